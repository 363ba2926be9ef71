"""The child's result format, both directions; and the cleaning of a child's captured output.

A blob is ``b"TUTR1\\n" | u32 big-endian header length | header JSON (UTF-8) | float64 payload``
(docs/sandbox.md). The header's ``"arrays"`` entry lists ``{"offset", "shape"}`` per array, offsets
and sizes in elements of the payload. `decode` trusts nothing: it never unpickles, never evals, checks
every size before using it, and raises `WireError` with one sentence for anything malformed
(`OversizeError` for anything over a budget).

The parent pays little for a hostile blob. Every check on the child's bytes is one linear pass: the
header is at most `HEADER_MAX` bytes, and before the JSON parser sees it, `scan_header` walks it once
(vectorised, in fixed-size chunks) to find its nesting depth and to count what the parser would
build: containers, separators, strings. `HeaderScan.cost` turns those counts into an upper bound on
the bytes that parsing allocates, and a header whose bound is over `decode_budget(len(blob))` (twice
the blob's size plus `DECODE_SLACK`) is refused unparsed. The payload is never copied: arrays are
read-only views into the blob, so decoding any blob costs the parent at most about twice its size in
memory and, at the 64 MiB cap, well under a second (benchmarks/bench_wire.py).
"""

from __future__ import annotations

import gc
import json
import math
import re
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

MAGIC = b"TUTR1\n"
MAX_BYTES = 64 * 1024 * 1024
# A real header is 1-10 kB (captures and up to 8 pairs of value descriptions per blank; measured on
# every built-in lesson, right and wrong answers): 1 MiB is room for 100 times that, and bounds what
# the pre-scan and the parser ever read, whatever the blob's size: the slowest header to parse that
# fits (260,000 floats, each through `_finite_float`) takes a fraction of a second.
HEADER_MAX = 1024 * 1024
# Decoding may allocate at most twice the blob's size plus this: room for a real header's objects
# (about 20 times its text by the bound below) when the blob is small.
DECODE_SLACK = 4 * 1024 * 1024
MAX_DEPTH = 32
MAX_ARRAYS = 10_000
MAX_DIMS = 8

_PREFIX = len(MAGIC) + 4
_F64 = np.dtype("<f8")
_SCAN_CHUNK = 1 << 16  # bytes per vectorised step of the pre-scan: its temporaries stay ~1 MiB
_INDEX = np.arange(_SCAN_CHUNK, dtype=np.int32)
# Upper bounds, in bytes, on what json.loads allocates (CPython 3.11, 64-bit, measured with tracemalloc
# at peak, list and dict growth and the parser's key memo included; tests/test_wire.py checks them):
# per container (an empty dict is 64, a one-item list ~100), per separator (a list slot with growth,
# a dict entry plus its memo entry, or the int or float it separates: ~60), per quote (half a str
# object's ~50), per byte inside a string (~7 at peak: one astral character widens the whole str, and
# an escaped string is built in a growing buffer), and per byte of text (the text's str is 1 byte a
# character for ASCII, up to 4 otherwise, plus the copy the parser makes of each number's digits).
_COST_CONTAINER = 128
_COST_SEPARATOR = 64
_COST_QUOTE = 32
_COST_STRING_BYTE = 8
_COST_TEXT_BYTE = 2
_COST_ARRAY = 512  # one declared array: its table entry's objects beyond the bound, and two ndarray views
_OPEN_BRACE, _CLOSE_BRACE, _OPEN_BRACKET, _CLOSE_BRACKET = 0x7B, 0x7D, 0x5B, 0x5D
_QUOTE, _BACKSLASH, _COMMA, _COLON = 0x22, 0x5C, 0x2C, 0x3A
_MIB = 1024 * 1024


class WireError(Exception):
    """A result blob is malformed; the message is one sentence saying how."""


class OversizeError(WireError):
    """A result blob is over a size budget: the parent refuses it unread (the outcome is "oversize")."""


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
    """One blob: `header` (its "arrays" entry is written here) plus `arrays` as float64 little-endian.

    Raises WireError where `decode` would refuse the header, so a child says why in its own result."""
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
    size = _PREFIX + len(text) + sum(len(p) for p in parts)
    _check_arrays(_check_header(text, size, MAX_DEPTH), len(text), len(table), size)
    return b"".join([MAGIC, struct.pack(">I", len(text)), text, *parts])


# ---- decoding (parent side) ---------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise WireError(f"the result header contains the non-JSON number {name}.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise WireError(f"the result header contains the out-of-range number {text[:40]}.")
    return value


@dataclass(frozen=True)
class HeaderScan:
    """What one linear pass over a header's bytes learns, before any parser sees them."""

    depth: int  # the deepest nesting of brackets outside strings
    containers: int  # `{` and `[` outside strings
    separators: int  # `,` and `:` outside strings
    quotes: int  # quotes that open or close a string
    string_bytes: int  # bytes inside strings, each opening quote included
    ascii: bool

    def cost(self, size: int) -> int:
        """An upper bound on the bytes json.loads allocates for this header of `size` bytes, its str included."""
        text = size if self.ascii else 4 * size
        return (
            4096
            + text
            + _COST_TEXT_BYTE * size
            + _COST_CONTAINER * self.containers
            + _COST_SEPARATOR * self.separators
            + _COST_QUOTE * self.quotes
            + _COST_STRING_BYTE * self.string_bytes
        )


def scan_header(data: bytes | bytearray | memoryview) -> HeaderScan:
    """Depth and token counts of JSON text in one linear, vectorised pass (no regex, no recursion).

    Exact up to the first byte where the text stops being valid JSON, which is as far as a parser
    goes: there, every quote outside a string opens one, no backslash stands outside a string, and
    inside one a quote ends it unless an odd run of backslashes stands before it."""
    buf = np.frombuffer(data, dtype=np.uint8)
    in_string = False  # at the start of the chunk
    odd_run = False  # an odd run of backslashes ends just before the chunk
    level = top = containers = separators = quotes = string_bytes = 0
    ascii_ = True
    for start in range(0, buf.size, _SCAN_CHUNK):
        a = buf[start : start + _SCAN_CHUNK]
        n = a.size
        if ascii_ and int(a.max()) >= 0x80:
            ascii_ = False
        is_quote = a == _QUOTE
        is_bs = a == _BACKSLASH
        if is_bs.any():
            idx = _INDEX[:n] if n <= _INDEX.size else np.arange(n, dtype=np.int32)
            last_plain = idx - (idx + 1) * is_bs  # -1 on a backslash, its own index elsewhere
            np.maximum.accumulate(last_plain, out=last_plain)  # the last byte so far that is not a backslash
            odd = ((idx - last_plain) & 1).astype(np.bool_)  # an odd run of backslashes ends here
            if odd_run:  # the run at the chunk's start goes on from the chunk before
                odd[: int(np.argmax(~is_bs)) if not is_bs.all() else n] ^= True
            is_quote[1:] &= ~odd[:-1]  # a quote after an odd run of backslashes is escaped
            if odd_run:
                is_quote[0] = False
            odd_run = bool(odd[-1])
        else:
            if odd_run:
                is_quote[0] = False
            odd_run = False
        n_quotes = int(np.count_nonzero(is_quote))
        quotes += n_quotes
        if n_quotes or in_string:
            inside = np.bitwise_xor.accumulate(is_quote.view(np.uint8))  # 1 from an opening quote to its closing one
            if in_string:
                inside ^= 1
            in_string = bool(inside[-1])
            string_bytes += int(np.count_nonzero(inside))
            inside -= 1  # 0xFF outside strings, 0 inside: a byte inside a string is no token
            a = a & inside
        opens = (a == _OPEN_BRACE) | (a == _OPEN_BRACKET)
        closes = (a == _CLOSE_BRACE) | (a == _CLOSE_BRACKET)
        n_opens = int(np.count_nonzero(opens))
        containers += n_opens
        separators += int(np.count_nonzero((a == _COMMA) | (a == _COLON)))
        if n_opens or closes.any():
            levels = np.cumsum(opens.view(np.int8) - closes.view(np.int8), dtype=np.int32)
            top = max(top, level + int(levels.max()))
            level += int(levels[-1])
    return HeaderScan(top, containers, separators, quotes, string_bytes, ascii_)


def decode_budget(size: int) -> int:
    """The bytes that decoding a blob of `size` bytes may allocate: twice its size, plus `DECODE_SLACK`."""
    return DECODE_SLACK + 2 * size


def _mib(n: int) -> str:
    return f"{n / _MIB:.1f} MiB"


def _check_header(data: bytes | bytearray | memoryview, size: int, max_depth: int) -> HeaderScan:
    """Refuse, before any parsing, a header that is too long, too deep or too costly for a blob of `size`."""
    head_len = len(data)
    if head_len > HEADER_MAX:
        raise OversizeError(f"the result header is {_mib(head_len)}, more than the {_mib(HEADER_MAX)} limit.")
    scan = scan_header(data)
    if scan.depth > max_depth:
        raise WireError(f"the result header is nested deeper than {max_depth} levels.")
    cost = scan.cost(head_len)
    if cost > decode_budget(size):
        raise OversizeError(
            f"the result header would take up to {_mib(cost)} to read, more than the "
            f"{_mib(decode_budget(size))} a {_mib(size)} result may use."
        )
    return scan


def _check_arrays(scan: HeaderScan, head_len: int, n_arrays: int, size: int) -> None:
    """Refuse a table of arrays whose views would take the decoding over its budget."""
    if n_arrays > MAX_ARRAYS:
        raise OversizeError(f"the result declares {n_arrays} arrays, more than {MAX_ARRAYS}.")
    cost = scan.cost(head_len) + _COST_ARRAY * n_arrays
    if cost > decode_budget(size):
        raise OversizeError(
            f"the result's {n_arrays} arrays would take up to {_mib(cost)} to read, more than the "
            f"{_mib(decode_budget(size))} a {_mib(size)} result may use."
        )


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def decode(blob: bytes | bytearray | memoryview, *, max_bytes: int = MAX_BYTES,
           max_depth: int = MAX_DEPTH) -> tuple[dict, list[np.ndarray]]:
    """(header, arrays) from an untrusted blob; arrays are read-only float64 views of the declared shapes.

    Costs one linear pass over the header and at most `decode_budget(len(blob))` bytes; the payload is
    never copied. Raises OversizeError for a blob over a budget, WireError for a malformed one."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise WireError("the result is not a byte string.")
    view = memoryview(blob).cast("B")
    size = view.nbytes
    if size > max_bytes:
        raise OversizeError(f"the result is {size} bytes, more than the {max_bytes}-byte limit.")
    if size < _PREFIX or view[: len(MAGIC)] != MAGIC:
        raise WireError("the result does not start with the TUTR1 magic.")
    (head_len,) = struct.unpack(">I", view[len(MAGIC) : _PREFIX])
    if head_len > size - _PREFIX:
        raise WireError(f"the result header claims {head_len} bytes but only {size - _PREFIX} follow.")
    head = view[_PREFIX : _PREFIX + head_len]
    scan = _check_header(head, size, max_depth)
    try:
        text = str(head, "utf-8")  # straight from the blob: the header's only copy
    except UnicodeDecodeError:
        raise WireError("the result header is not valid UTF-8.") from None
    collecting = gc.isenabled()
    gc.disable()  # the parser makes no cycles: collections while it allocates would walk the whole heap again and again
    try:
        header = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except WireError:
        raise
    except (ValueError, RecursionError, TypeError) as exc:
        raise WireError(f"the result header is not valid JSON ({str(exc)[:80]}).") from None
    finally:
        if collecting:
            gc.enable()
    del text
    if not isinstance(header, dict):
        raise WireError("the result header is not a JSON object.")
    table = header.get("arrays")
    if not isinstance(table, list):
        raise WireError('the result header has no "arrays" list.')
    _check_arrays(scan, head_len, len(table), size)
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
