"""What a hostile result blob costs the parent: decode time and memory at 1x, 10x, 100x a normal result
and at the 64 MiB cap (issue 10).

    python benchmarks/bench_wire.py [--runs 5] [--no-rss]

A normal result is 64 KiB (the built-in lessons' blobs are 1-140 kB, their headers 1-10 kB). Each
hostile blob of size S has a header of min(S, HEADER_MAX) bytes of one shape, padded with float
payload up to S. For each row: the median decode time of --runs runs (a refusal counts: it is what
the parent pays), the tracemalloc peak of one decode, the growth of the peak resident set (VmHWM;
ru_maxrss elsewhere) of a fresh process that reads the blob and decodes it once, the outcome, and
time and peak as multiples of the 1x row, beside the size's multiple (10, 100, 1024): linear growth
keeps them at or under it. A second table times the linear pre-scan alone on texts up to 64 MiB
(decode never scans more than HEADER_MAX, 1 MiB).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tutor.sandbox import wire  # noqa: E402

KiB, MiB = 1024, 1024 * 1024
NORMAL = 64 * KiB
SIZES = [("1x", NORMAL), ("10x", 10 * NORMAL), ("100x", 100 * NORMAL), ("cap", wire.MAX_BYTES)]


def _fill(before: bytes, unit: bytes, after: bytes, size: int) -> bytes:
    return before + unit * max(0, (size - len(before) - len(after)) // len(unit)) + after


def _tiny_arrays(size: int) -> bytes:
    n = min(wire.MAX_ARRAYS, max(1, size // 40))
    return json.dumps({"arrays": [{"offset": i, "shape": []} for i in range(n)]}, separators=(",", ":")).encode()


# shape -> header of about `size` bytes
SHAPES: dict[str, Callable[[int], bytes]] = {
    "escaped quotes": lambda size: _fill(b'{"arrays":[],"s":"', b'\\"', b"", size),
    "backslashes": lambda size: _fill(b'{"arrays":[],"s":"', b"\\", b"", size),
    "{} flood": lambda size: _fill(b'{"arrays":[],"x":[', b"{},", b"1]}", size),
    "nesting at the limit": lambda size: _fill(b'{"arrays":[],"x":[', b"[" * 30 + b"]" * 30 + b",", b"1]}", size),
    "floats": lambda size: _fill(b'{"arrays":[],"x":[', b"1.5,", b"1]}", size),
    "a long string": lambda size: _fill(b'{"arrays":[],"s":"', b"a", b'"}', size),
    "tiny arrays": _tiny_arrays,
    "big arrays": lambda size: b'{"arrays":[{"offset":0,"shape":[%d]}]}' % ((size - 64) // 8),
}


def build(shape: str, size: int) -> bytes:
    """A blob of `size` bytes: a header of `shape` (at most HEADER_MAX bytes), then float payload."""
    head = SHAPES[shape](min(size - 10, wire.HEADER_MAX))
    room = max(0, size - 10 - len(head)) // 8 * 8
    if shape == "big arrays":
        head = SHAPES[shape](size)
        room = (size - 10 - len(head)) // 8 * 8
    return wire.MAGIC + struct.pack(">I", len(head)) + head + bytes(room)


def decode_once(blob: bytes | bytearray) -> str:
    try:
        header, arrays = wire.decode(blob)
    except wire.OversizeError as exc:
        return "oversize: " + _short(str(exc))
    except wire.WireError as exc:
        return "bad_result: " + _short(str(exc))
    return f"decoded ({len(arrays)} arrays)"


def _short(text: str) -> str:
    text = text.removeprefix("the result header ").removeprefix("the result ")
    return text if len(text) <= 44 else text[:43] + "…"


_RSS = r"""
import os, resource, sys
sys.path.insert(0, sys.argv[2])
from tutor.sandbox import wire

def peak_rss():
    # VmHWM: this process's own peak since exec. ru_maxrss is not: Linux carries the peak of the
    # process that vforked us (the benchmark, with every blob it built) across exec into it.
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

with open(sys.argv[1], "rb") as f:
    blob = bytearray(os.fstat(f.fileno()).st_size)
    f.readinto(blob)
before = peak_rss()
try:
    wire.decode(blob)
except wire.WireError:
    pass
print(peak_rss() - before)
"""


def rss_growth(blob: bytes) -> int | None:
    """Peak resident set growth of a fresh process that has read `blob` and then decodes it once."""
    with tempfile.NamedTemporaryFile(prefix="bench-wire-", delete=False) as f:
        f.write(blob)
        path = f.name
    try:
        out = subprocess.run([sys.executable, "-c", _RSS, path, str(ROOT)], capture_output=True, text=True, timeout=120)
        return int(out.stdout.strip()) if out.returncode == 0 else None
    except (subprocess.TimeoutExpired, ValueError):
        return None
    finally:
        os.unlink(path)


def measure(blob: bytes, runs: int) -> tuple[float, int, str]:
    """(median seconds, tracemalloc peak bytes, outcome) of decoding `blob`."""
    times = []
    outcome = ""
    for _ in range(runs):
        t = time.perf_counter()
        outcome = decode_once(blob)
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    try:
        decode_once(blob)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return statistics.median(times), peak, outcome


def _size(n: float) -> str:
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n / KiB:.0f} KiB"


def _secs(t: float) -> str:
    return f"{t * 1e3:.2f} ms" if t < 1 else f"{t:.2f} s"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-rss", action="store_true", help="skip the fresh-process peak-RSS column")
    args = ap.parse_args()
    print(f"normal result {_size(NORMAL)}; header cap {_size(wire.HEADER_MAX)}; "
          f"budget = 2 x size + {_size(wire.DECODE_SLACK)}")
    head = (f"{'shape':<21} {'size':>5} {'bytes':>9} {'time':>9} {'x1x':>6} {'peak':>9} {'x1x':>6} "
            f"{'rss +':>9} {'budget':>9}  outcome")
    print(head)
    print("-" * len(head))
    for shape in SHAPES:
        base: tuple[float, int] | None = None
        for label, size in SIZES:
            blob = build(shape, size)
            t, peak, outcome = measure(blob, args.runs)
            rss = None if args.no_rss else rss_growth(blob)
            if base is None:
                base = (t, max(peak, 1))
            rss_text = _size(rss) if rss is not None else "-"
            print(f"{shape:<21} {label:>5} {_size(len(blob)):>9} {_secs(t):>9} {t / base[0]:>6.1f} {_size(peak):>9} "
                  f"{peak / base[1]:>6.1f} {rss_text:>9} {_size(wire.decode_budget(len(blob))):>9}  {outcome}")
            del blob
    # The issue's own case: the whole blob one header of {} (no payload), refused by the header cap.
    for size in (24_000_000, wire.MAX_BYTES):
        head = SHAPES["{} flood"](size - 10)
        blob = wire.MAGIC + struct.pack(">I", len(head)) + head
        t, peak, outcome = measure(blob, args.runs)
        rss = None if args.no_rss else rss_growth(blob)
        print(f"{'{} flood, all header':<21} {'':>5} {_size(len(blob)):>9} {_secs(t):>9} {'':>6} {_size(peak):>9} {'':>6} "
              f"{(_size(rss) if rss is not None else '-'):>9} {_size(wire.decode_budget(len(blob))):>9}  {outcome}")
    print()
    print(f"{'pre-scan alone':<21} {'bytes':>9} {'time':>9} {'MiB/s':>7}")
    for shape in ("escaped quotes", "{} flood", "a long string"):
        for size in (4 * MiB, 16 * MiB, 64 * MiB):
            text = SHAPES[shape](size)
            times = []
            for _ in range(max(1, args.runs // 2)):
                t = time.perf_counter()
                wire.scan_header(text)
                times.append(time.perf_counter() - t)
            t = statistics.median(times)
            print(f"{shape:<21} {_size(len(text)):>9} {_secs(t):>9} {len(text) / MiB / t:>7.0f}")


if __name__ == "__main__":
    main()
