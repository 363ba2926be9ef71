"""The result wire format: what the parent accepts from an untrusted child, and the output cleaning."""

from __future__ import annotations

import json
import struct

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
    with pytest.raises(WireError, match="arrays"):
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


# ---- output cleaning ----------------------------------------------------------------------------


def test_clean_output_strips_escapes_and_controls() -> None:
    raw = "a\x1b[31mred\x1b[0m\x07b\tc\r\n\x1b]0;title\x07d\x1b[2J\x1b(Be\x00f\x7f\x9b1mg\u202eh\n"
    assert wire.clean_output(raw) == "aredb\tc\ndefgh\n"


def test_clean_output_keeps_ordinary_text() -> None:
    text = "epoch 1: loss=0.25 ✓ — ünïcode\n\tindented\n"
    assert wire.clean_output(text) == text
