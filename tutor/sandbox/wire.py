"""The child's result format, both directions; and the cleaning of a child's captured output.

A blob is ``b"TUTR1\\n" | u32 big-endian header length | header JSON (UTF-8) | float64 payload``
(docs/sandbox.md). The header's ``"arrays"`` entry lists ``{"offset", "shape"}`` per array, offsets
and sizes in elements of the payload. `decode` trusts nothing: it never unpickles, never evals, checks
every size before using it, bounds the JSON nesting depth before the JSON parser sees the text, and
raises `WireError` with one sentence for anything malformed.
"""

from __future__ import annotations

import json
import math
import re
import struct
from typing import Any

import numpy as np

MAGIC = b"TUTR1\n"
MAX_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 32
MAX_ARRAYS = 10_000
MAX_DIMS = 8

_PREFIX = len(MAGIC) + 4
_F64 = np.dtype("<f8")
# A JSON string (skipped) or one bracket (counted). Unrolled-loop form: fast on long strings.
_DEPTH_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.S)


class WireError(Exception):
    """A result blob is malformed; the message is one sentence saying how."""


# ---- encoding (child side) ----------------------------------------------------------------------


def _jsonable(value: Any, depth: int = 0) -> Any:
    """The header made strictly JSON-able: non-finite floats become "nan"/"inf"/"-inf" strings."""
    if depth > MAX_DEPTH:
        raise WireError(f"the result header is nested deeper than {MAX_DEPTH} levels.")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, np.generic):
        return _jsonable(value.item(), depth)
    if isinstance(value, dict):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value]
    return str(value)


def encode(header: dict, arrays: list[np.ndarray]) -> bytes:
    """One blob: `header` (its "arrays" entry is written here) plus `arrays` as float64 little-endian."""
    if not isinstance(header, dict):
        raise WireError("the result header must be a dict.")
    if len(arrays) > MAX_ARRAYS:
        raise WireError(f"a result may hold at most {MAX_ARRAYS} arrays, not {len(arrays)}.")
    parts: list[bytes] = []
    table = []
    offset = 0
    for arr in arrays:
        a = np.asarray(arr, dtype=_F64)
        if a.ndim > MAX_DIMS:
            raise WireError(f"an array of the result has {a.ndim} dimensions, more than {MAX_DIMS}.")
        table.append({"offset": offset, "shape": [int(s) for s in a.shape]})
        parts.append(a.tobytes(order="C"))
        offset += a.size
    head = _jsonable({k: v for k, v in header.items() if k != "arrays"})
    head["arrays"] = table
    text = json.dumps(head, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")
    return b"".join([MAGIC, struct.pack(">I", len(text)), text, *parts])


# ---- decoding (parent side) ---------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise WireError(f"the result header contains the non-JSON number {name}.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise WireError(f"the result header contains the out-of-range number {text[:40]}.")
    return value


def json_depth_exceeds(text: str, max_depth: int) -> bool:
    """True when brackets outside JSON strings nest deeper than `max_depth` (no recursion, no parse)."""
    depth = 0
    for m in _DEPTH_TOKENS.finditer(text):
        tok = m.group()
        if tok == "[" or tok == "{":
            depth += 1
            if depth > max_depth:
                return True
        elif tok == "]" or tok == "}":
            depth = max(depth - 1, 0)
    return False


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def decode(blob: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> tuple[dict, list[np.ndarray]]:
    """(header, arrays) from an untrusted blob; arrays are read-only float64 views of the declared shapes."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise WireError("the result is not a byte string.")
    view = memoryview(blob).cast("B")
    size = view.nbytes
    if size > max_bytes:
        raise WireError(f"the result is {size} bytes, more than the {max_bytes}-byte limit.")
    if size < _PREFIX or bytes(view[: len(MAGIC)]) != MAGIC:
        raise WireError("the result does not start with the TUTR1 magic.")
    (head_len,) = struct.unpack(">I", view[len(MAGIC) : _PREFIX])
    if head_len > size - _PREFIX:
        raise WireError(f"the result header claims {head_len} bytes but only {size - _PREFIX} follow.")
    try:
        text = bytes(view[_PREFIX : _PREFIX + head_len]).decode("utf-8")
    except UnicodeDecodeError:
        raise WireError("the result header is not valid UTF-8.") from None
    if json_depth_exceeds(text, max_depth):
        raise WireError(f"the result header is nested deeper than {max_depth} levels.")
    try:
        header = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except WireError:
        raise
    except (ValueError, RecursionError, TypeError) as exc:
        raise WireError(f"the result header is not valid JSON ({str(exc)[:80]}).") from None
    if not isinstance(header, dict):
        raise WireError("the result header is not a JSON object.")
    table = header.get("arrays")
    if not isinstance(table, list):
        raise WireError('the result header has no "arrays" list.')
    if len(table) > MAX_ARRAYS:
        raise WireError(f"the result declares {len(table)} arrays, more than {MAX_ARRAYS}.")
    payload = view[_PREFIX + head_len :]
    if payload.nbytes % _F64.itemsize:
        raise WireError("the result's array payload is not a whole number of float64 values.")
    n_elements = payload.nbytes // _F64.itemsize
    arrays: list[np.ndarray] = []
    for i, entry in enumerate(table):
        if not isinstance(entry, dict):
            raise WireError(f"array {i} of the result is not described by an object.")
        offset, shape = entry.get("offset"), entry.get("shape")
        if not _is_count(offset):
            raise WireError(f"array {i} of the result has an invalid offset.")
        if not isinstance(shape, list) or len(shape) > MAX_DIMS or not all(_is_count(s) for s in shape):
            raise WireError(f"array {i} of the result has an invalid shape (at most {MAX_DIMS} non-negative sizes).")
        count = math.prod(shape)
        if offset > n_elements or count > n_elements - offset:
            raise WireError(f"array {i} of the result lies outside the payload of {n_elements} values.")
        arr = np.frombuffer(payload, dtype=_F64, count=count, offset=offset * _F64.itemsize).reshape(shape)
        arr.flags.writeable = False
        arrays.append(arr)
    return header, arrays


# ---- captured output ----------------------------------------------------------------------------

_ANSI = re.compile(
    r"""
      \x1b\[[0-?]*[ -/]*[@-~]?            # CSI ... final byte
    | \x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?   # OSC / DCS / SOS / PM / APC ... terminator
    | \x1b[ -/]*[0-~]?                    # two-byte and nF escapes
    | \x9b[0-?]*[ -/]*[@-~]?              # 8-bit CSI
    """,
    re.X,
)
# C0 controls but \t and \n, DEL, C1 controls, and the invisible direction/zero-width marks that can
# make a terminal line read differently from what it contains.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def clean_output(text: str) -> str:
    """A child's output made safe to show: ANSI escapes and control characters removed, \\n and \\t kept."""
    text = text.replace("\r\n", "\n")
    text = _ANSI.sub("", text)
    return _CONTROL.sub("", text)
