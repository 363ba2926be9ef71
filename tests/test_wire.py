"""The result wire format: what the parent accepts from an untrusted child, and the output cleaning."""

from __future__ import annotations

import gc
import json
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tutor.sandbox import WireError, wire


def blob(header: str | bytes, payload: bytes = b"", magic: bytes = wire.MAGIC) -> bytes:
    head = header.encode() if isinstance(header, str) else header
    return magic + struct.pack(">I", len(head)) + head + payload


def floats(*values: float) -> bytes:
    return np.array(values, dtype="<f8").tobytes()


def test_round_trip_keeps_header_shapes_and_special_floats() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-300])
    c = np.array(7.5)
    d = np.zeros((0, 4))
    header = {"status": "ok", "captures": {"0": {"w": {"kind": "array", "array": 1}}}, "text": "é ü \u2603", "n": 3}
    out, arrays = wire.decode(wire.encode(header, [a, b, c, d]))
    assert out["status"] == "ok" and out["captures"] == header["captures"] and out["text"] == header["text"]
    assert out["arrays"] == [
        {"offset": 0, "shape": [2, 3]},
        {"offset": 6, "shape": [5]},
        {"offset": 11, "shape": []},
        {"offset": 12, "shape": [0, 4]},
    ]
    np.testing.assert_array_equal(arrays[0], a.astype(np.float64))
    np.testing.assert_array_equal(arrays[1], b)  # NaN and inf travel in the payload
    assert np.signbit(arrays[1][3])
    assert arrays[2].shape == () and float(arrays[2]) == 7.5
    assert arrays[3].shape == (0, 4)
    for arr in arrays:
        assert arr.dtype == np.float64
        assert not arr.flags.writeable


def test_encode_turns_non_finite_header_floats_into_strings() -> None:
    out, _ = wire.decode(wire.encode({"lr": float("nan"), "m": [float("inf"), -float("inf")], "w": np.float64(2.5)}, []))
    assert out["lr"] == "nan" and out["m"] == ["inf", "-inf"] and out["w"] == 2.5


def test_decode_of_bytearray_gives_read_only_arrays() -> None:
    out, arrays = wire.decode(bytearray(wire.encode({}, [np.ones(3)])))
    assert not arrays[0].flags.writeable


def test_truncated_blob_is_rejected_at_every_cut() -> None:
    full = wire.encode({"status": "ok", "x": list(range(10))}, [np.ones(5), np.zeros((2, 2))])
    for cut in range(len(full)):
        with pytest.raises(WireError):
            wire.decode(full[:cut])


def test_bad_magic() -> None:
    good = wire.encode({}, [])
    with pytest.raises(WireError, match="magic"):
        wire.decode(b"TUTR2\n" + good[6:])
    with pytest.raises(WireError, match="magic"):
        wire.decode(b"")


def test_header_length_beyond_blob() -> None:
    head = b'{"arrays":[]}'
    with pytest.raises(WireError, match="claims"):
        wire.decode(wire.MAGIC + struct.pack(">I", len(head) + 1) + head)
    with pytest.raises(WireError, match="claims"):
        wire.decode(wire.MAGIC + struct.pack(">I", 0xFFFFFFFF) + head)


def test_array_outside_payload() -> None:
    with pytest.raises(WireError, match="outside"):
        wire.decode(blob('{"arrays":[{"offset":2,"shape":[2]}]}', floats(1, 2, 3)))
    with pytest.raises(WireError, match="outside"):
        wire.decode(blob('{"arrays":[{"offset":99999999999999999999,"shape":[0]}]}', floats(1)))


def test_element_count_mismatch() -> None:
    with pytest.raises(WireError, match="outside"):
        wire.decode(blob('{"arrays":[{"offset":0,"shape":[2,3]}]}', floats(1, 2, 3, 4, 5)))
    with pytest.raises(WireError, match="outside"):  # a product that would overflow int64
        wire.decode(blob('{"arrays":[{"offset":0,"shape":[4294967296,4294967296,4294967296]}]}', floats(1)))
    with pytest.raises(WireError, match="whole number"):
        wire.decode(blob('{"arrays":[]}', b"\x00" * 12))


@pytest.mark.parametrize(
    "table",
    [
        '[{"offset":-1,"shape":[1]}]',
        '[{"offset":true,"shape":[1]}]',
        '[{"offset":0,"shape":[-1]}]',
        '[{"offset":0,"shape":[1.0]}]',
        '[{"offset":0,"shape":[1,1,1,1,1,1,1,1,1]}]',
        '[{"offset":0}]',
        "[1]",
        '{"offset":0,"shape":[1]}',
    ],
)
def test_invalid_array_entries(table: str) -> None:
    with pytest.raises(WireError):
        wire.decode(blob('{"arrays":' + table + "}", floats(1)))


def test_too_many_arrays() -> None:
    table = ",".join(['{"offset":0,"shape":[]}'] * (wire.MAX_ARRAYS + 1))
    padding = np.zeros(wire.MAX_ARRAYS * 100).tobytes()  # a blob big enough that the cost budget is not what stops it
    with pytest.raises(wire.OversizeError, match="10001 arrays, more than 10000"):
        wire.decode(blob('{"arrays":[' + table + "]}", padding))
    with pytest.raises(wire.OversizeError, match="to read"):  # a small blob: its budget stops it first
        wire.decode(blob('{"arrays":[' + table + "]}", floats(1)))


def test_header_must_be_an_object_with_arrays() -> None:
    for head in ("[]", "1", '"x"', "{}", '{"arrays":null}'):
        with pytest.raises(WireError):
            wire.decode(blob(head))


@pytest.mark.parametrize("opener, closer", [("[", "]"), ("{\"a\":", "}")])
def test_deep_nesting_is_rejected_before_parsing(opener: str, closer: str) -> None:
    deep = opener * 100_000 + "1" + closer * 100_000
    with pytest.raises(WireError, match="nested"):
        wire.decode(blob('{"arrays":[],"x":' + deep + "}"))
    unbalanced = "[" * 100_000  # invalid JSON that a recursive parser would still descend into
    with pytest.raises(WireError, match="nested"):
        wire.decode(blob(unbalanced))


def test_nesting_limit_is_exact_and_ignores_brackets_in_strings() -> None:
    ok = '{"arrays":[],"x":' + "[" * 30 + "]" * 30 + "}"  # 1 + 30 + ... = depth 31
    wire.decode(blob(ok))
    too_deep = '{"arrays":[],"x":' + "[" * 32 + "]" * 32 + "}"
    with pytest.raises(WireError):
        wire.decode(blob(too_deep))
    text = "[[[{{\\\"]]" * 20_000
    header, _ = wire.decode(blob(json.dumps({"arrays": [], "s": text})))
    assert header["s"] == text


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400"])
def test_non_finite_numbers_in_header_are_rejected(token: str) -> None:
    with pytest.raises(WireError):
        wire.decode(blob('{"arrays":[],"x":' + token + "}"))


def test_invalid_utf8_and_invalid_json() -> None:
    with pytest.raises(WireError, match="UTF-8"):
        wire.decode(blob(b'{"arrays":[],"x":"\xff"}'))
    with pytest.raises(WireError, match="JSON"):
        wire.decode(blob('{"arrays":[],}'))
    with pytest.raises(WireError, match="JSON"):
        wire.decode(blob('{"arrays":[],"x":' + "1" * 5000 + "}"))  # over Python's int digit limit


def test_size_cap() -> None:
    big = wire.encode({}, [np.zeros(1000)])
    with pytest.raises(WireError, match="limit"):
        wire.decode(big, max_bytes=1000)
    assert wire.decode(big, max_bytes=len(big))[1][0].shape == (1000,)


def test_decode_rejects_non_bytes() -> None:
    with pytest.raises(WireError):
        wire.decode("TUTR1\n")  # type: ignore[arg-type]


def _valid_blob() -> bytes:
    header = {"status": "ok", "captures": {"0": {"loss": {"kind": "array", "array": 0, "shape": [3]}}}, "t": "x"}
    return wire.encode(header, [np.array([1.0, 2.0, np.nan]), np.ones((2, 2))])


def _decode_or_wire_error(data: bytes) -> None:
    try:
        header, arrays = wire.decode(data)
    except WireError:
        return
    assert isinstance(header, dict)
    for arr in arrays:
        assert isinstance(arr, np.ndarray) and arr.dtype == np.float64


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_fuzz_random_bytes(data: bytes) -> None:
    _decode_or_wire_error(data)
    _decode_or_wire_error(wire.MAGIC + data)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255), st.sampled_from(["set", "insert", "delete"])), min_size=1, max_size=8))
def test_fuzz_mutated_valid_blobs(edits: list[tuple[int, int, str]]) -> None:
    data = bytearray(_valid_blob())
    for pos, value, op in edits:
        pos %= len(data) + 1
        if op == "insert":
            data.insert(pos, value)
        elif pos < len(data):
            if op == "set":
                data[pos] = value
            else:
                del data[pos]
    _decode_or_wire_error(bytes(data))


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=True) | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
                    max_leaves=30))
def test_fuzz_encode_decode_round_trip(value: object) -> None:
    header, _ = wire.decode(wire.encode({"v": value}, []))
    assert "v" in header


# ---- the linear pre-scan and the decoding budget ------------------------------------------------


def _reference_scan(data: bytes) -> tuple[int, int, int, int, int, bool]:
    """The same counts as `wire.scan_header`, one byte at a time (the state machine it vectorises)."""
    level = top = containers = separators = quotes = string_bytes = 0
    in_string = False
    run = 0  # backslashes right before this byte
    for c in data:
        if c == 0x22 and run % 2 == 0:
            in_string = not in_string
            quotes += 1
        if in_string:
            string_bytes += 1
        elif c in b"{[":
            containers += 1
            level += 1
            top = max(top, level)
        elif c in b"}]":
            level -= 1
        elif c in b",:":
            separators += 1
        run = run + 1 if c == 0x5C else 0
    return top, containers, separators, quotes, string_bytes, all(c < 0x80 for c in data)


def _scan_tuple(data: bytes) -> tuple[int, int, int, int, int, bool]:
    s = wire.scan_header(data)
    return s.depth, s.containers, s.separators, s.quotes, s.string_bytes, s.ascii


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b'"', b"\\", b"\\\\", b'\\"', b"{", b"}", b"[", b"]", b",", b":", b"a", b"\xc3\xa9", b" "]),
                max_size=120),
       st.integers(1, 9))
def test_scan_matches_a_byte_at_a_time_reference_across_chunk_edges(parts: list[bytes], chunk: int) -> None:
    data = b"".join(parts)
    saved = wire._SCAN_CHUNK
    wire._SCAN_CHUNK = chunk  # tiny chunks: every carry (inside a string, an odd run of backslashes) is crossed
    try:
        got = _scan_tuple(data)
    finally:
        wire._SCAN_CHUNK = saved
    assert got == _reference_scan(data)


def _json_counts(value: object, depth: int = 1) -> tuple[int, int, int, int]:
    """(depth, containers, separators, strings) of a parsed JSON value, by walking it."""
    if isinstance(value, dict):
        parts = [_json_counts(v, depth + 1) for v in value.values()]
        seps = len(value) + max(len(value) - 1, 0)
        strings = len(value)
    elif isinstance(value, list):
        parts = [_json_counts(v, depth + 1) for v in value]
        seps = max(len(value) - 1, 0)
        strings = 0
    else:
        return 0, 0, 0, int(isinstance(value, str))
    return (
        max([depth] + [p[0] for p in parts]),
        1 + sum(p[1] for p in parts),
        seps + sum(p[2] for p in parts),
        strings + sum(p[3] for p in parts),
    )


_TRICKY = st.text(alphabet=st.sampled_from(list('"\\[]{},:ab \u00e9\u2603\U0001f600\n')), max_size=12)


@settings(max_examples=150, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers(-(10**20), 10**20)
                    | st.floats(allow_nan=False, allow_infinity=False) | _TRICKY,
                    lambda children: st.lists(children, max_size=5) | st.dictionaries(_TRICKY, children, max_size=5),
                    max_leaves=40),
       st.booleans())
def test_scan_counts_what_the_parser_builds(value: object, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":")).encode()
    depth, containers, separators, strings = _json_counts(json.loads(text))
    scan = wire.scan_header(text)
    assert (scan.depth, scan.containers, scan.separators, scan.quotes) == (depth, containers, separators, 2 * strings)
    assert scan.ascii == text.isascii()


def _hostile_headers(n: int) -> dict[str, str]:
    return {
        "empty dicts": "[" + ",".join(["{}"] * n) + "]",
        "empty lists": "[" + ",".join(["[]"] * n) + "]",
        "one-item lists": "[" + ",".join(["[1]"] * n) + "]",
        "nested lists": "[" + ",".join(["[[[[[[[[1]]]]]]]]"] * n) + "]",
        "small dicts": "[" + ",".join(['{"a":1}'] * n) + "]",
        "distinct keys": "{" + ",".join(f'"k{i}":1000' for i in range(n)) + "}",
        "distinct keys of dicts": "[" + ",".join(f'{{"a{i}":{{}}}}' for i in range(n)) + "]",
        "ints": "[" + ",".join(["1000"] * n) + "]",
        "floats": "[" + ",".join(["1.5"] * n) + "]",
        "distinct strings": "[" + ",".join(f'"{i}"' for i in range(n)) + "]",
        "escaped quotes": '["' + '\\"' * n + '"]',
        "one astral escape": '["' + "b" * n + '\\ud83d\\ude00"]',
        "raw astral": '["' + "\U0001f600" * n + '"]',
        "long ints": "[" + ",".join(["9" * 4000] * max(1, n // 1000)) + "]",
    }


@pytest.mark.parametrize("n", [1, 5, 85, 1365, 21845])  # around dict and list growth steps
def test_cost_bounds_what_parsing_allocates(n: int) -> None:
    for name, text in _hostile_headers(n).items():
        data = text.encode()
        bound = wire.scan_header(data).cost(len(data))
        tracemalloc.start()
        try:
            value = json.loads(str(memoryview(data), "utf-8"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        del value
        assert peak <= bound, (name, n, peak, bound)


def test_header_over_the_cap_is_refused_unread() -> None:
    head = '{"arrays":[],"s":"' + "a" * (wire.HEADER_MAX - 20) + '"}'
    padding = np.zeros(7 * 1024 * 1024).tobytes()  # a 60 MiB result may spend what this header costs
    assert len(head) == wire.HEADER_MAX
    header, _ = wire.decode(blob(head, padding))
    assert len(header["s"]) == wire.HEADER_MAX - 20
    cap = f"{wire.HEADER_MAX / 2**20:.1f}".replace(".", r"\.")
    with pytest.raises(wire.OversizeError, match=rf"header is {cap} MiB, more than the {cap} MiB limit"):
        wire.decode(blob(head[:-2] + 'a"}', padding))


def test_header_over_its_budget_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    head = '{"arrays":[],"x":[' + ",".join(["{}"] * 200_000) + "]}"
    monkeypatch.setattr(json, "loads", lambda *a, **k: pytest.fail("the parser saw an over-budget header"))
    said = r"would take up to \d+\.\d MiB to read, more than the 5\.\d MiB a 0\.6 MiB result may use"
    with pytest.raises(wire.OversizeError, match=said):
        wire.decode(blob(head))


def test_over_budget_errors_are_wire_errors() -> None:
    assert issubclass(wire.OversizeError, WireError)
    with pytest.raises(wire.OversizeError, match="limit"):
        wire.decode(wire.encode({}, [np.zeros(1000)]), max_bytes=1000)


def test_encode_refuses_what_decode_would() -> None:
    with pytest.raises(wire.OversizeError, match="to read"):
        wire.encode({"x": [{} for _ in range(200_000)]}, [])
    with pytest.raises(wire.OversizeError, match="limit"):
        wire.encode({"s": "a" * wire.HEADER_MAX}, [])
    wire.decode(wire.encode({"x": [{} for _ in range(200_000)]}, [np.zeros(3_000_000)]))  # room in a larger result


def test_decode_never_copies_the_payload() -> None:
    data = bytearray(wire.encode({"status": "ok"}, [np.arange(1000.0), np.ones((3, 4))]))
    _, arrays = wire.decode(data)
    whole = np.frombuffer(data, dtype=np.uint8)
    assert all(np.shares_memory(a, whole) for a in arrays)


def test_decode_leaves_the_collector_as_it_found_it() -> None:
    for data in (wire.encode({"x": [[1]] * 10}, []), blob('{"arrays":[],"x":[1,}')):
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            try:
                try:
                    wire.decode(data)
                except WireError:
                    pass
                assert gc.isenabled() is enabled
            finally:
                gc.enable()


def test_a_real_header_is_far_inside_its_budget() -> None:
    pair = {"kind": "array", "type": "ndarray", "dtype": "float64", "shape": [400, 1], "array": 0, "scalar": False}
    header = {
        "status": "error",
        "error": {"type": "ValueError", "message": "x" * 600, "line": 3, "blank": 0, "call": 1, "name": None, "suggest": []},
        "captures": {"0": {f"name{i}": dict(pair) for i in range(20)}},
        "blanks": {str(b): {"calls": 10, "matched": 9, "first_mismatch": 3, "pairs": [[pair, pair, {"call": c}] for c in range(8)],
                            "error": None} for b in range(10)},
        "failed_blank": None,
        "wall": 0.1,
    }
    data = wire.encode(header, [np.zeros(1)])
    head_len = len(data) - len(wire.MAGIC) - 4 - 8
    cost = wire.scan_header(data[len(wire.MAGIC) + 4 : -8]).cost(head_len)
    assert cost * 4 < wire.decode_budget(len(data)), (head_len, cost)


# ---- output cleaning ----------------------------------------------------------------------------


def test_clean_output_strips_escapes_and_controls() -> None:
    raw = "a\x1b[31mred\x1b[0m\x07b\tc\r\n\x1b]0;title\x07d\x1b[2J\x1b(Be\x00f\x7f\x9b1mg\u202eh\n"
    assert wire.clean_output(raw) == "aredb\tc\ndefgh\n"


def test_clean_output_keeps_ordinary_text() -> None:
    text = "epoch 1: loss=0.25 ✓ — ünïcode\n\tindented\n"
    assert wire.clean_output(text) == text
