"""Attacks on the parent through the result blob: a hostile child's result costs the parent
one linear scan and at most `wire.decode_budget(size)` bytes (twice its size plus 4 MiB), and ends as
an `oversize` or `bad_result` outcome with one sentence, never a stall, a crash or a swollen parent.

Each hostile blob is built here and decoded in a fresh process (a hang guard: a stall fails the test
after 60 s instead of hanging the suite) that measures its own tracemalloc peak and the growth of its
peak resident set. The end-to-end cases make a real child, under every OS layer, write the blob to
its result pipe itself with the real `os.write(3, ...)`, as a program that got past the Python guards
would (see `_ESCAPE`), and check the Evaluator's outcome, the parent's memory, the grader's verdict,
and that the next run works. No timing is asserted: speed is benchmarks/bench_wire.py's.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from tutor.sandbox import Evaluator, wire
from tutor.sandbox.client import outcome_from
from tutor.sandbox.results import parse_run

REPO = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024
NAMES = ["np", "torch", "nn", "optim", "F"]
HANG_GUARD_S = 60


def _blob(header: bytes, payload: bytes = b"") -> bytes:
    return wire.MAGIC + struct.pack(">I", len(header)) + header + payload


def _padded(header: bytes, total: int) -> bytes:
    """A blob of `total` bytes (a whole number of floats after the header): room in its budget."""
    room = (total - len(wire.MAGIC) - 4 - len(header)) // 8 * 8
    return _blob(header, bytes(room))


def _flood(unit: bytes, size: int, before: bytes = b'{"arrays":[],"x":[', after: bytes = b"1]}") -> bytes:
    return before + unit * ((size - len(before) - len(after)) // len(unit)) + after


def _quotes(size: int, closed: bool) -> bytes:
    return _flood(b'\\"', size, b'{"arrays":[],"s":"', b'"}' if closed else b"")


def _string(unit: bytes, size: int, closed: bool = True) -> bytes:
    return _flood(unit, size, b'{"arrays":[],"s":"', b'"}' if closed else b"")


def _table(entries: list[dict]) -> bytes:
    return json.dumps({"arrays": entries}).encode()


CAP = wire.MAX_BYTES
HMAX = wire.HEADER_MAX
OVER_HMAX = f"more than the {HMAX / MiB:.1f} MiB limit"
EMOJI = "\U0001f600".encode()
TINY = [{"offset": i, "shape": []} for i in range(wire.MAX_ARRAYS)]
OVERLAPPING = [{"offset": 0, "shape": [(CAP - 2 * MiB) // 8]}] * wire.MAX_ARRAYS

# name -> (builder, expected outcome, a phrase of the sentence)
CASES: dict[str, tuple[Callable[[], bytes], str, str]] = {
    "escaped quotes, 80 kB, unterminated": (lambda: _blob(_quotes(80_000, False)), "bad_result", "not valid JSON"),
    "escaped quotes, 400 kB, unterminated": (lambda: _blob(_quotes(400_000, False)), "bad_result", "not valid JSON"),
    "escaped quotes, 400 kB, closed": (lambda: _blob(_quotes(400_000, True)), "decoded", ""),
    "escaped quotes filling the header cap": (lambda: _blob(_quotes(HMAX, False)), "oversize", "to read"),
    "escaped quotes filling the header cap, at the size cap": (lambda: _padded(_quotes(HMAX, False), CAP), "bad_result", "not valid JSON"),
    "unterminated string of backslashes": (lambda: _blob(_string(b"\\", MiB, closed=False)), "oversize", "to read"),
    "backslashes at the size cap": (lambda: _padded(_string(b"\\\\", HMAX, closed=False), CAP), "bad_result", "not valid JSON"),
    "deep nesting": (lambda: _blob(b'{"arrays":[],"x":' + b"[" * 1_000_000), "bad_result", "nested deeper than 32"),
    "nesting at the limit, over and over": (lambda: _blob(_flood(b"[" * 30 + b"]" * 30 + b",", HMAX)), "oversize", "to read"),
    "24 MB of {}": (lambda: _blob(_flood(b"{},", 24_000_000)), "oversize", "header is 22.9 MiB, " + OVER_HMAX),
    "{} filling the header cap, in a 16 MiB result": (lambda: _padded(_flood(b"{},", HMAX), 16 * MiB), "oversize", "to read"),
    "{} filling the header cap, at the size cap": (lambda: _padded(_flood(b"{},", HMAX), CAP), "decoded", ""),
    "a valid header at the cap, at the size cap": (lambda: _padded(_string(b"a", HMAX), CAP), "decoded", ""),
    "a header one byte over the cap": (lambda: _padded(_string(b"a", HMAX + 1), CAP), "oversize", OVER_HMAX),
    "non-ASCII header": (lambda: _blob(_string(EMOJI, MiB)), "oversize", "to read"),
    "non-ASCII header at the size cap": (lambda: _padded(_string(EMOJI, HMAX), CAP), "decoded", ""),
    "many tiny arrays": (lambda: _blob(_table(TINY), bytes(8 * wire.MAX_ARRAYS)), "oversize", "to read"),
    "many tiny arrays in a larger result": (lambda: _padded(_table(TINY), 16 * MiB), "decoded", ""),
    "overlapping arrays over the whole payload": (lambda: _padded(_table(OVERLAPPING), CAP), "decoded", ""),
    "one array filling the size cap": (lambda: _padded(_table([{"offset": 0, "shape": [8388000]}]), CAP), "decoded", ""),
    "over the size cap": (lambda: _blob(b'{"arrays":[]}', bytes(CAP)), "oversize", "67108864-byte limit"),
    "a header that claims 4 GiB": (lambda: wire.MAGIC + struct.pack(">I", 0xFFFFFFFF) + b"{}", "bad_result", "claims"),
    "a 4000-digit number": (lambda: _blob(b'{"arrays":[],"n":' + b"9" * 4000 + b"}"), "decoded", ""),
    "an infinite number": (lambda: _blob(b'{"arrays":[],"n":1e999}'), "bad_result", "out-of-range number"),
}

_DECODE = r"""
import json, os, resource, sys, tracemalloc
from tutor.sandbox import wire

def peak_rss():
    # VmHWM: this process's own peak since exec (ru_maxrss carries over the peak of the vforking parent).
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

with open(sys.argv[1], "rb") as f:
    blob = bytearray(os.fstat(f.fileno()).st_size)
    f.readinto(blob)
rss0 = peak_rss()
tracemalloc.start()
try:
    header, arrays = wire.decode(blob)
    got, said, views = "decoded", "", all(a.base is not None and not a.flags.owndata for a in arrays)
except wire.OversizeError as exc:
    got, said, views = "oversize", str(exc), True
except wire.WireError as exc:
    got, said, views = "bad_result", str(exc), True
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(json.dumps({"got": got, "said": said, "peak": peak, "rss": peak_rss() - rss0, "size": len(blob), "views": views}))
"""


def _decode_elsewhere(data: bytes, tmp_path: Path) -> dict:
    """Decode `data` in a fresh process, with a hang guard; what it got, said and cost."""
    path = tmp_path / "blob"
    path.write_bytes(data)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        proc = subprocess.run([sys.executable, "-c", _DECODE, str(path)], capture_output=True, text=True,
                              timeout=HANG_GUARD_S, cwd=REPO, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"decoding a {len(data)}-byte blob did not end within {HANG_GUARD_S} s")
    finally:
        path.unlink()
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_blob_is_decoded_or_refused_cheaply(name: str, tmp_path: Path) -> None:
    build, expected, phrase = CASES[name]
    out = _decode_elsewhere(build(), tmp_path)
    size, peak, budget = out["size"], out["peak"], wire.decode_budget(out["size"])
    assert out["got"] == expected, out
    assert phrase in out["said"], out["said"]
    if out["said"]:
        assert out["said"].startswith("the result") and out["said"].endswith(".") and len(out["said"]) < 200
    assert out["views"], "an array was copied out of the blob"
    # The parent's cost: within the budget (2 x size + 4 MiB), by tracemalloc and by the resident set.
    assert peak <= budget, (peak, budget)
    assert out["rss"] <= budget + 16 * MiB, (out["rss"], budget)
    if expected != "decoded":
        assert peak <= 4 * MiB or "arrays" in out["said"] or "JSON" in out["said"], peak  # refused before parsing
    if size >= 16 * MiB:
        assert peak <= 2.5 * size, (peak, size)


@pytest.mark.parametrize("case", [
    {"blanks": {"\u00b2": {"calls": 1}}},  # a "digit" int() refuses
    {"blanks": {"1" * 5000: {"calls": 1}}},  # over int()'s digit limit
    {"captures": {"0": {"x": {"kind": "array", "shape": [2**32, 2**32], "array": 0}}}},  # an int64 product that wraps to 0
    {"captures": {"0": {"x": {"kind": "array", "shape": [10**400], "array": 0}}}},
    {"captures": {"0": {"m": {"kind": "object", "params": [{"shape": [10**400], "array": 0}], "config": {"a": [[]] * 10}}}}},
])
def test_a_hostile_header_never_makes_the_conversion_raise(case: dict) -> None:
    header, arrays = wire.decode(wire.encode({"status": "ok", **case}, [np.zeros(0)]))
    res = parse_run("ok", header, arrays)
    assert res.status == "ok"


REPLY = {"status": "ok", "exit": 0, "signal": None, "marker": None, "stdout": "", "stdout_truncated": False, "wall": 0.1}


def test_outcome_of_a_hostile_blob_is_oversize_or_bad_result_with_a_sentence() -> None:
    big = outcome_from({"id": "x"}, REPLY, _blob(_flood(b"{},", 24_000_000)))
    assert big.status == "oversize" and big.header is None and OVER_HMAX in (big.error or "")
    bad = outcome_from({"id": "x"}, REPLY, _blob(_quotes(80_000, False)))
    assert bad.status == "bad_result" and "not valid JSON" in (bad.error or "")
    res = parse_run(big.status, big.header, big.arrays)
    assert res.status == "oversize"


# ---- end to end: a child that writes its own hostile result ---------------------------------------

# A program that got past every Python guard runs with the real `os` in its child, under every OS
# layer, and can write any bytes to its result pipe (fd 3, docs/sandbox.md) and leave before the
# runtime writes the real result. The Python guards are not what is tested here, so the worker of
# this module's evaluator runs a job whose source starts with `#escaped` that way (its runtime's
# `execute` is wrapped at start-up); every other job runs as usual.
_ESCAPE = (
    "import tutor.sandbox.runtime as _rt\n"
    "_real_execute = _rt.execute\n"
    "def _escaped_execute(job, modules, data, marker, **kw):\n"
    "    if not str(job.get('source', '')).startswith('#escaped'):\n"
    "        return _real_execute(job, modules, data, marker, **kw)\n"
    "    import os\n"
    "    exec(job['source'], {'os': os})\n"
    "    return {'status': 'ok'}, []\n"
    "_rt.execute = _escaped_execute\n"
)

_WRITE_OWN_RESULT = (
    "#escaped\n"
    "head = {head}\n"
    "blob = b'TUTR1\\n' + len(head).to_bytes(4, 'big') + head\n"
    "view = memoryview(blob)\n"
    "while view:\n"
    "    view = view[os.write(3, view):]\n"
    "os._exit(0)\n"
)

E2E = {
    "24 MB of {}": ("b'{\"arrays\":[],\"x\":[' + b'{},' * 8_000_000 + b'1]}'", 24_000_000, "oversize", OVER_HMAX),
    "{} within the header cap": ("b'{\"arrays\":[],\"x\":[' + b'{},' * 300_000 + b'1]}'", 900_000, "oversize", "to read"),
    "400 kB of escaped quotes": ("b'{\"arrays\":[],\"s\":\"' + b'\\\\\"' * 200_000", 400_000, "bad_result", "not valid JSON"),
    "deep nesting": ("b'[' * 1_000_000", 1_000_000, "bad_result", "nested deeper"),
}


@pytest.fixture(scope="module")
def wire_ev():
    from tutor.sandbox import client

    real = client.bootstrap

    def escaped_bootstrap(*args: object, **kw: object) -> str:
        text = real(*args, **kw)  # type: ignore[arg-type]
        main = "from tutor.sandbox.worker import main; "
        return text.replace(main, "\n" + _ESCAPE + main)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(client, "bootstrap", escaped_bootstrap)
        with Evaluator(preload=("numpy", "torch")) as e:
            e.start(wait=True)
            yield e


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox's result pipe is a Linux one")
@pytest.mark.parametrize("name", list(E2E))
def test_a_child_that_writes_a_hostile_result(wire_ev: Evaluator, name: str) -> None:
    head, size, expected, phrase = E2E[name]
    source = _WRITE_OWN_RESULT.format(head=head)
    tracemalloc.start()
    try:
        (out,) = wire_ev.run([{"id": name, "source": source, "names": NAMES, "timeout": 20.0, "memory_mb": 1024}])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.status == expected, (out.status, out.error, out.header, out.stdout[-300:])
    assert out.error and phrase in out.error and out.error.endswith(".") and "Traceback" not in out.error, out.error
    assert out.header is None and out.arrays == []
    # The parent held the blob once (read straight into one buffer) and spent at most its budget on it.
    assert peak <= size + wire.decode_budget(size) + 2 * MiB, (peak, size)
    assert parse_run(out.status, out.header, out.arrays).status == expected
    # And the next run works.
    (nxt,) = wire_ev.run([{"id": "next", "source": "print(np.ones(2).sum() + torch.ones(1).item())", "names": NAMES,
                      "timeout": 5.0}])
    assert nxt.status == "ok" and nxt.stdout == "3.0\n", nxt


def test_a_huge_exception_class_name_is_cut_and_the_error_kept(wire_ev: Evaluator) -> None:
    """An exception class named with 400 kB of quotes: the runtime cuts the name, so the result stays
    small and the learner still sees their own error."""
    source = "raise type('\"' * 400_000, (Exception,), {})('x')\n"
    (out,) = wire_ev.run([{"id": "type name", "source": source, "names": NAMES, "timeout": 10.0}])
    assert out.status == "ok" and out.header is not None, (out.status, out.error)
    err = out.header["error"]
    assert out.header["status"] == "error" and len(json.dumps(out.header)) < 5_000, out.header
    assert err["message"] == "x" and len(err["type"]) <= 80, err


def test_the_child_refuses_a_header_over_budget_itself() -> None:
    """What decode would refuse, encode refuses first, with a sentence: the child never sends it."""
    with pytest.raises(wire.WireError):
        wire.encode({"junk": ["x" * 1000] * 5000}, [])


def test_a_learners_own_huge_values_stay_small_in_the_header(wire_ev: Evaluator) -> None:
    """The runtime's own route: an exception message of 400 kB of quotes, a huge list of dicts, a huge
    repr: each is cut to a few hundred characters in the header, so the result decodes at once."""
    source = (
        "junk = [{'k': '\"' * 50} for i in range(20000)]\n"
        "big = '\\\\\"' * 200000\n"
        "__tutor_capture__('0')\n"
        "raise ValueError(big)\n"
    )
    (out,) = wire_ev.run([{"id": "huge", "source": source, "names": NAMES, "timeout": 10.0, "captures": {"0": ["junk", "big"]}}])
    assert out.status == "ok" and out.header is not None, (out.status, out.error)
    assert out.header["status"] == "error"
    assert len(json.dumps(out.header)) < 20_000
    assert out.header["error"]["type"] == "ValueError" and len(out.header["error"]["message"]) <= 600


class _Hostile:
    """An evaluator whose runs, but the reference's, come back with a hostile blob in place of their result."""

    def __init__(self, ev: Evaluator, blob: bytes) -> None:
        self.ev, self.blob = ev, blob

    def layers(self) -> list[str]:
        return self.ev.layers()

    def run(self, jobs: list[dict], on_output: Callable | None = None) -> list:
        outs = self.ev.run(jobs, on_output=on_output)
        return [o if j.get("id") == "reference" else outcome_from(j, REPLY, self.blob) for j, o in zip(jobs, outs)]


GRADED = {
    "24 MB of {}": (lambda: _blob(_flood(b"{},", 24_000_000)), "too large to read"),
    "400 kB of escaped quotes": (lambda: _blob(_quotes(400_000, False)), "cannot be read"),
}


@pytest.mark.parametrize("name", list(GRADED))
def test_the_grader_turns_a_hostile_result_into_a_verdict(wire_ev: Evaluator, name: str) -> None:
    from tutor.grading.grader import Grader
    from tutor.lesson import parse_lesson

    build, words = GRADED[name]
    lesson = parse_lesson(REPO / "tests" / "fixtures" / "lessons" / "001-mini-numpy.md")
    report = Grader(_Hostile(wire_ev, build())).grade(lesson, {"loss": "np.mean((y - (w * X + b)) ** 2) * 2"})
    b = report.blanks["loss"]
    assert b.verdict in ("error", "incorrect"), (b.verdict, b.diagnosis, b.message)
    assert words in b.message and "Traceback" not in b.message, b.message


# tests/test_attacks.py collects this module's tests and fixtures (and re-runs them as `nobody`).
__all__ = [n for n, v in dict(globals()).items() if n.startswith("test_") or hasattr(v, "_fixture_function_marker")]
