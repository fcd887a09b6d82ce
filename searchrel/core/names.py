"""Names that become one folder of a path: model versions (`--version`, `--teacher`, `--student`, …).

A version name is joined onto a models root (`<models>/teacher/<version>/`) and,
for teachers, written into SQL conditions of the labelling MERGE. A name such as
`../../x`, `/etc` or `a/b` would reach outside that root, and a quote would
change the SQL, so a name is one plain path component: letters, digits, `.`,
`_` and `-`, starting with a letter or digit (which also rules out `.` and
`..`). Paths that are meant to be paths (the warehouse, `models_dir`, a
backbone folder, a cache folder) are not names and may point anywhere.
Table names have their own rule (`layer/name`, `searchrel.core.tables`).
"""

from __future__ import annotations

import re

from searchrel.core.errors import UsageError

_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_plain_name(value: object, what: str) -> str:
    """`value` when it is one plain path component; otherwise UsageError, one line naming `what`."""
    if not isinstance(value, str) or not _PLAIN.match(value):
        raise UsageError(
            f"{what} {value!r} is not a plain name: use letters, digits, '.', '_' and '-' "
            "(at most 128, no '/' and no leading '.'), since it names one folder under the models root"
        )
    return value
