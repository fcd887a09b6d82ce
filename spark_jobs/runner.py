"""What every job entry point shares: arguments, configuration, exit codes, logging.

A job module defines `add_arguments(parser)` (optional) and `run(ctx) -> dict | None`
and ends with `main = runner.entry_point(...)`, so the same code runs as
`spark-submit spark_jobs/<job>.py …` and as `searchrel <command> …`.

Exit codes (searchrel.core.errors): 0 success, 2 bad arguments or configuration
(one line naming what is wrong), 1 a failed run.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Literal

from searchrel.core.config import Config, load_config, parse_set_options
from searchrel.core.dates import iso_date
from searchrel.core.errors import (
    EXIT_FAILED, EXIT_OK, EXIT_USAGE, ConfigError, JobFailed, UsageError, storage_refusal,
    storage_unreachable,
)
from searchrel.core.tables import new_run_id

log = logging.getLogger("searchrel")

DateMode = Literal["required", "optional", "none"]


def add_common_arguments(parser: argparse.ArgumentParser, dates: DateMode) -> None:
    parser.add_argument("--warehouse", help="warehouse root (folder or URI); overrides config")
    parser.add_argument("--config", help="YAML config file (default conf/searchrel.yaml)")
    parser.add_argument(
        "--set", action="append", metavar="KEY=VALUE", dest="set_options",
        help="override one config value, e.g. --set teacher.epochs=1 (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    if dates != "none":
        parser.add_argument("--ds", type=iso_date, help="one partition date yyyy-MM-dd")
        parser.add_argument("--start", type=iso_date, help="first date of a backfill range")
        parser.add_argument("--end", type=iso_date, help="last date of a backfill range (inclusive)")


def resolve_dates(args: argparse.Namespace, mode: DateMode) -> tuple[str, str] | None:
    if mode == "none":
        return None
    ds, start, end = args.ds, args.start, args.end
    if ds and (start or end):
        raise UsageError("give either --ds or --start/--end, not both")
    if ds:
        return ds, ds
    if start or end:
        if not (start and end):
            raise UsageError("--start and --end go together")
        if start > end:
            raise UsageError(f"--start {start} is after --end {end}")
        return start, end
    if mode == "required":
        raise UsageError("one of --ds or --start/--end is required")
    return None


@dataclass
class JobContext:
    """Everything a job needs; the Spark session is started lazily, only if used."""

    name: str
    args: argparse.Namespace
    config: Config
    dates: tuple[str, str] | None
    run_id: str = field(default_factory=new_run_id)

    @cached_property
    def spark(self):
        from searchrel.core.session import get_spark

        return get_spark(self.config)

    @cached_property
    def tables(self):
        from searchrel.core.tables import tables_for

        return tables_for(self.spark, self.config.warehouse_path, self.config.spark.commit_attempts)

    @property
    def start(self) -> str:
        assert self.dates is not None
        return self.dates[0]

    @property
    def end(self) -> str:
        assert self.dates is not None
        return self.dates[1]


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time, so redirected or captured streams work."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(verbose: bool = False) -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_searchrel", False) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        handler._searchrel = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("py4j", "urllib3", "filelock", "matplotlib", "PIL", "great_expectations", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def build_context(
    name: str, argv: list[str] | None, dates: DateMode, add_arguments: Callable[[argparse.ArgumentParser], None] | None,
    description: str | None = None,
) -> JobContext:
    """Parse arguments and configuration; raise UsageError/ConfigError on bad input."""
    parser = argparse.ArgumentParser(prog=f"searchrel {name}", description=description)
    if add_arguments:
        add_arguments(parser)
    add_common_arguments(parser, dates)
    args = parser.parse_args(argv)  # argparse exits 2 with its own one-line message
    overrides = parse_set_options(args.set_options)
    if args.warehouse:
        overrides["warehouse"] = args.warehouse
    config = load_config(args.config, overrides)
    return JobContext(name=name, args=args, config=config, dates=resolve_dates(args, dates))


def entry_point(
    name: str,
    run: Callable[[JobContext], dict[str, Any] | None],
    dates: DateMode = "required",
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    description: str | None = None,
) -> Callable[[list[str] | None], int]:
    """Wrap a job's `run(ctx)` into `main(argv) -> exit code`."""

    def main(argv: list[str] | None = None) -> int:
        configure_logging("-v" in (argv or sys.argv[1:]) or "--verbose" in (argv or sys.argv[1:]))
        try:
            ctx = build_context(name, argv, dates, add_arguments, description)
        except (ConfigError, UsageError) as exc:
            print(f"searchrel {name}: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        try:
            result = run(ctx)
        except (ConfigError, UsageError) as exc:
            print(f"searchrel {name}: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except JobFailed as exc:
            log.error("%s failed: %s", name, exc)
            if ctx.args.json:
                print(json.dumps({"job": name, "status": "failed", "error": str(exc)}))
            return EXIT_FAILED
        except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
            refused = storage_refusal(exc)
            if refused:
                # Wrong credentials are configuration: one line, exit 2, no JVM stack.
                print(f"searchrel {name}: error: {refused}", file=sys.stderr)
                return EXIT_USAGE
            unreachable = storage_unreachable(exc)
            if unreachable:
                # An outage, not a bug: one line, exit 1 (a scheduler's retry may succeed), no JVM stack.
                print(f"searchrel {name}: error: {unreachable}", file=sys.stderr)
                return EXIT_FAILED
            log.exception("%s failed: %s: %s", name, type(exc).__name__, exc)
            return EXIT_FAILED
        if result is not None:
            if ctx.args.json:
                print(json.dumps(result, indent=2, default=str))
            else:
                for key, value in result.items():
                    print(f"{key}: {value}")
        return EXIT_OK

    main.__doc__ = description
    return main
