"""Run several job entry points in one spark-submit driver, e.g. the suites of one step's tables.

    spark-submit run_jobs.py validate features/a --ds D --then validate features/b --ds D

Each spark-submit pays for a JVM start and Delta's package resolution (tens of
seconds on a small machine), more than validating a day of a table costs; one
driver for a step's suites keeps the gate cheap. Every job runs even after a
failure, so the log reports every failed suite, and the exit code is the
worst one: 2 (bad arguments) over 1 (a failed run) over 0.
"""

from __future__ import annotations

import importlib
import logging
import sys

SEPARATOR = "--then"

log = logging.getLogger("searchrel.run_jobs")


def split_commands(argv: list[str]) -> list[list[str]]:
    commands: list[list[str]] = [[]]
    for arg in argv:
        if arg == SEPARATOR:
            commands.append([])
        else:
            commands[-1].append(arg)
    if any(not command for command in commands):
        raise ValueError(f"empty command in {argv!r} (usage: JOB ARGS… [{SEPARATOR} JOB ARGS…]…)")
    return commands


def worst(codes: list[int]) -> int:
    return 2 if 2 in codes else (1 if any(codes) else 0)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        commands = split_commands(args)
    except ValueError as exc:
        print(f"run_jobs: error: {exc}", file=sys.stderr)
        return 2
    codes: list[int] = []
    for job, *job_args in commands:
        module = importlib.import_module(f"spark_jobs.{job}")
        code = int(module.main(job_args) or 0)
        log.info("%s %s -> exit %d", job, " ".join(job_args), code)
        codes.append(code)
    failed = [" ".join(c) for c, code in zip(commands, codes) if code]
    if failed:
        print(f"run_jobs: {len(failed)} of {len(commands)} failed: " + "; ".join(failed), file=sys.stderr)
    return worst(codes)


if __name__ == "__main__":
    sys.exit(main())
