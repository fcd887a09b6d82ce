"""`searchrel <command>`: one console script over the job modules in spark_jobs/ (and the demo).

The top layer (see docs/DESIGN.md): it names the jobs by module path and imports
them only when one runs; nothing below imports it.

Each command is a module with `main(argv) -> int`; importing it lazily keeps
`searchrel --help` fast and lets a command's heavy imports (torch, Spark)
happen only when that command runs.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("spark_jobs.simulate", "write the simulated raw/ tables"),
    "import-labels": ("spark_jobs.import_labels", "load an external labelled dataset into raw/"),
    "aggregate": ("spark_jobs.aggregate_features", "query tokens, board tokens and link text for dates"),
    "caption": ("spark_jobs.caption_pins", "BLIP captions for new or changed pin images"),
    "assemble-text": ("spark_jobs.assemble_pin_text", "assemble features/pin_text for dates"),
    "teacher-train": ("spark_jobs.train_teacher", "fine-tune the cross-encoder teacher on human labels"),
    "label": ("spark_jobs.label_impressions", "score impressions with the teacher into labels/teacher_scores"),
    "student-features": ("spark_jobs.build_student_examples", "build features/student_examples for dates"),
    "student-train": ("spark_jobs.train_student", "distil the student from teacher scores"),
    "evaluate": ("spark_jobs.evaluate", "metrics of teacher and student on the held-out human labels"),
    "validate": ("spark_jobs.validate", "run a table's expectation suite (exit 1 on failure)"),
    "demo": ("searchrel.demo", "the whole pipeline end to end, with a report"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: searchrel <command> [options]   (searchrel <command> --help for its options)", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] == "--version":
        from searchrel import __version__

        print(__version__)
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"searchrel: error: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
