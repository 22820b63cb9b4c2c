"""What every check of the artist's input shares: a value shown in a message on one short line, what
is wrong with a path that should name a readable file, and the control characters no text or table
may hold. (The checks themselves live with what they check: `project`, `text`, `audio`, `models`.)"""
from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

SHOWN = 80  # characters of a value a message shows (a YAML bomb's value runs to megabytes)

# C0 and C1 control characters and DEL, except tab and newline (line endings are normalised first).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def shown(value, limit: int = SHOWN) -> str:
    """`repr(value)` on one line, cut to about `limit` characters (a long string is cut before it is
    repr'd, so that showing it costs nothing however long it is)."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit])[:-1] + f"…' ({len(value)} characters)"
    text = repr(value) if not isinstance(value, (list, dict, tuple)) else _shown_container(value, limit)
    return text if len(text) <= limit else text[:limit] + "…"


def one_line(message: str, limit: int = 4 * SHOWN) -> str:
    """A message on one line of at most about `limit` characters."""
    message = " ".join(message.split())
    return message if len(message) <= limit else message[:limit] + "…"


def _shown_container(value, limit: int) -> str:
    """A list or map shown as far as `limit` characters go, without walking it further (an alias bomb
    expands into more items than a message could ever hold)."""
    opening, closing = {list: "[]", tuple: "()", dict: "{}"}[type(value)]
    items = value.items() if isinstance(value, dict) else value
    parts, size = [], 0
    for n, item in enumerate(items):
        if size > limit:
            return opening + ", ".join(parts) + ", …" + closing
        part = f"{shown(item[0], limit)}: {shown(item[1], limit)}" if isinstance(value, dict) else shown(item, limit)
        parts.append(part)
        size += len(part) + 2
    return opening + ", ".join(parts) + closing


def file_problem(path) -> str | None:
    """What keeps `path` from being read as a file ('does not exist', 'is a directory, not a file', …),
    or None when it can be."""
    path = Path(path)
    if path.is_dir():
        return "is a directory, not a file"
    if not path.exists():
        return "does not exist"
    if not path.is_file():
        return "is not a regular file (a pipe or a device cannot be read as a file)"
    if not os.access(path, os.R_OK):
        return "cannot be read (no permission)"
    return None


def control_character(text: str) -> tuple[int, str] | None:
    """The line (from 1) and name of the first control character other than tab and newline in
    `text`, or None."""
    match = _CONTROL.search(text)
    if match is None:
        return None
    char = match.group()
    name = unicodedata.name(char, "") or {"\x00": "NUL", "\x0c": "FORM FEED", "\x0b": "VERTICAL TAB",
                                         "\x1b": "ESCAPE", "\x7f": "DELETE"}.get(char, "a control character")
    return text.count("\n", 0, match.start()) + 1, f"U+{ord(char):04X} ({name})"
