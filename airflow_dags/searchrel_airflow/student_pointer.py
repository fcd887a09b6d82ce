"""Read or move the student's `current` pointer (publishing = moving it), in the pipeline's Python.

    python student_pointer.py show [--warehouse W] [--config C]      -> {"current": "<version>" | null}
    python student_pointer.py set VERSION [--warehouse W] [--config C]

Runs in the pipeline's environment (it needs the pipeline's config and
modeling.student), not Airflow's; no Spark. The pointer write is atomic.
"""

from __future__ import annotations

import argparse
import json
import sys

from searchrel.core.config import load_config
from searchrel.core.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="student_pointer")
    parser.add_argument("action", choices=("show", "set"))
    parser.add_argument("version", nargs="?")
    parser.add_argument("--warehouse")
    parser.add_argument("--config")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, {"warehouse": args.warehouse} if args.warehouse else None)
    except ConfigError as exc:
        print(f"student_pointer: error: {exc}", file=sys.stderr)
        return 2
    from modeling.student import resolve_version_dir, set_current  # noqa: PLC0415 - torch only when run

    if args.action == "show":
        try:
            current = resolve_version_dir(config.models_path, "current").name
        except FileNotFoundError:
            current = None
        print(json.dumps({"current": current}))
        return 0
    if not args.version:
        print("student_pointer: error: set needs a VERSION", file=sys.stderr)
        return 2
    resolve_version_dir(config.models_path, args.version)  # raises if the version is not there
    set_current(config.models_path, args.version)
    print(json.dumps({"current": args.version}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
