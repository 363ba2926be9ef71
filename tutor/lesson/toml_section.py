"""TOML sections of a lesson file (the header, the check blocks): read with every problem at its
file line, a key's line found again, and a value shown the way the instructor wrote it.

Decision: a TOML text nested more than 50 levels deep, or with a dotted key of more than 100 parts,
is a problem at its place, found before `tomllib` reads it (`files.toml_shape_problem`). A syntax
error `tomllib` reports is moved to its line in the file and given a remedy for the common mistakes.
`tomllib` does not say where a key is once the text is read, so `find_line` finds it again by its
table and name: a best guess, always a line of the section.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from typing import Any

from .files import toml_shape_problem
from .model import Report

_TOML_AT_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END_RE = re.compile(r"\s*\(at end of document\)\s*$")
_TABLE_LINE_RE = re.compile(r"\s*\[")


def load_toml(lines: list[str], first_line: int, end_line: int, what: str, report: Report) -> dict[str, Any] | None:
    """The values of a TOML section whose first line is file line `first_line` (its closing line:
    `end_line`), or None after reporting why it cannot be read; `what` names it in the sentence."""
    text = "\n".join(lines)
    shape = toml_shape_problem(text)
    if shape is not None:
        line, col, phrase = shape
        report(first_line + line - 1, col, f"{what} cannot be read: {phrase}: simplify it")
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message, line, col = str(exc), end_line, 1
        at = _TOML_AT_RE.search(message)
        end = _TOML_END_RE.search(message)
        if at:
            message = message[: at.start()]
            line, col = first_line + int(at.group(1)) - 1, int(at.group(2))
        elif end:
            message = message[: end.start()]
        line = min(line, end_line)
        report(line, col, f"{what} is not valid TOML ({_first_lower(message)}): {_toml_hint(message)}")
    except (ValueError, RecursionError, MemoryError, OverflowError):
        report(first_line, 1, f"{what} is too deeply nested or too large to read: simplify it")
    return None


def _first_lower(text: str) -> str:
    return text[:1].lower() + text[1:] if text else text


def _toml_hint(message: str) -> str:
    """How to fix a TOML mistake, for the common ones."""
    lowered = message.lower()
    if "invalid value" in lowered:
        return 'put text values in double quotes, like title = "My lesson"'
    if "unterminated string" in lowered or "unclosed" in lowered and "string" in lowered:
        return 'a text value is missing its closing quote "'
    if "expected '='" in lowered:
        return "each line should look like key = value"
    if "unclosed array" in lowered or "expected ']'" in lowered:
        return "a list or a [section] name is missing its closing ]"
    if "unclosed inline table" in lowered:
        return "a { ... } table is missing its closing }"
    if "cannot declare" in lowered or "cannot overwrite" in lowered or "cannot mutate" in lowered:
        return "something is written twice: keep one"
    if lowered.startswith("expected \"'\""):
        return "a text value is missing its closing quote '"
    if "illegal character '\\n'" in lowered or "illegal character '\\r'" in lowered:
        # tomllib meets the end of the line inside a string: its closing quote is missing.
        return 'a text value is missing its closing quote " (a value in quotes ends on the line it starts)'
    if "illegal character" in lowered:
        return "remove the invisible or control character"
    return "compare it with the examples in docs/authoring.md"


def _key_pattern(key: str) -> str:
    escaped = re.escape(key)
    return rf"""(?:"{escaped}"|'{escaped}'|{escaped})"""


def find_line(lines: list[str], first_line: int, table: tuple[str, ...], key: str | None) -> int:
    """Best guess of the file line where `key` of `[table]` is written in a TOML text."""
    start, end, header = 0, len(lines), None
    if table:
        pattern = re.compile(r"\s*\[\s*" + r"\s*\.\s*".join(_key_pattern(t) for t in table) + r"\s*\]")
        for i, line in enumerate(lines):
            if pattern.match(line):
                header, start = i, i + 1
                break
        if header is None:
            return find_line(lines, first_line, table[:-1], table[-1])
    for i in range(start, len(lines)):
        if _TABLE_LINE_RE.match(lines[i]):
            end = i
            break
    if key is None:
        return first_line + (header or 0)
    own = re.compile(r"\s*" + _key_pattern(key) + r"\s*[=.]")
    for i in range(start, end):
        if own.match(lines[i]):
            return first_line + i
    anywhere = re.compile(r"(?:^|[\s.{,])" + _key_pattern(key) + r"\s*=")
    for i, line in enumerate(lines):
        if anywhere.search(line):
            return first_line + i
    return first_line + (header or 0)


def show(value: Any, depth: int = 0) -> str:
    """A value as an instructor wrote it in TOML, shortened."""
    if depth > 2:
        text = "..."
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, (int, float)):
        text = repr(value)
    elif isinstance(value, list):
        text = "[" + ", ".join(show(v, depth + 1) for v in value[:5]) + (", ...]" if len(value) > 5 else "]")
    elif isinstance(value, dict):
        items = [f"{k} = {show(v, depth + 1)}" for k, v in list(value.items())[:5]]
        text = "{ " + ", ".join(items) + " }"
    else:
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool): what a timeout or a tolerance may be."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
