"""Names from configs, flags and plugins that end up in paths: checked once, early.

A model name and version become the bundle folder ``dist/<name>-<version>/``,
so a name with a slash, ``..`` or 250 characters would fail (or escape) only
when the bundle is written, after every conversion and measurement.
"""

from __future__ import annotations

import re

from edgeops.errors import UsageError

# 64 characters keep ``<name>-<version>`` well under the 255-byte file-name
# limit of ext4 and APFS, with room for the temporary suffix of atomic writes.
MAX_NAME_LENGTH = 64
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def check_name(value: str, what: str) -> str:
    """Return ``value`` if it is safe as one path component, else raise a one-line UsageError.

    ``what`` names the setting in the message, e.g. ``"model name ([model] name)"``.
    """
    if not isinstance(value, str) or not value:
        raise UsageError(f"{what} is empty; give letters, digits, '.', '_', '+' or '-'")
    if len(value) > MAX_NAME_LENGTH:
        raise UsageError(
            f"{what} is {len(value)} characters long; shorten it to at most {MAX_NAME_LENGTH}"
        )
    if not _NAME.fullmatch(value) or value.endswith("."):
        raise UsageError(
            f"{what} {value!r} cannot be a folder name; use letters, digits, '.', '_', '+' "
            "or '-', starting with a letter or digit"
        )
    return value


def safe_name(value: str) -> str:
    """A valid name made from ``value`` (a file's stem): the default when none is given."""
    cleaned = re.sub(r"[^A-Za-z0-9._+-]+", "-", value).strip("-.")[:MAX_NAME_LENGTH]
    return cleaned.rstrip(".") or "model"
