"""`searchrel simulate`: write every raw/ table of the simulated search world."""

from __future__ import annotations

import argparse
import sys

from spark_jobs import runner

SCALES = ("tiny", "small", "medium", "large")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", choices=SCALES, default="small", help="size of the world")
    parser.add_argument("--seed", type=int, help="random seed (default: simulation.seed)")


def run(ctx: runner.JobContext) -> dict:
    from simulation.world import write_world  # noqa: PLC0415 - heavy, only when run

    seed = ctx.config.simulation.seed if ctx.args.seed is None else ctx.args.seed
    return write_world(ctx.tables, ctx.config.simulation, ctx.args.scale, seed)


main = runner.entry_point("simulate", run, dates="none", add_arguments=add_arguments,
                          description=__doc__)

if __name__ == "__main__":
    sys.exit(main())
