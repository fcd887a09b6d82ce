"""The one Jinja2 setup for every HTML page the project writes (the report, the validation index).

Both pages take their data as plain values and their markup from template files; one
environment factory keeps their escaping and strictness the same: autoescape on, and an
undefined name in a template is an error, not an empty string.
"""

from __future__ import annotations

import jinja2


def environment(package: str, folder: str) -> jinja2.Environment:
    """Templates under `folder` of `package`, strict and escaped, with the project's filters."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(package, folder),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["thousands"] = lambda n: f"{n or 0:,}"
    return env
