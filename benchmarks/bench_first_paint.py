"""First paint of `tutor`: seconds from starting the process to the lesson list on screen.

Runs the real command in a pseudo-terminal of 80x24 (a fresh progress folder each time, so the
evaluator starts too, as for a new learner), reads what it writes until the lesson list's text
appears, then quits it with ctrl+q. Prints the figures; the target is under 0.5 s.

    python benchmarks/bench_first_paint.py [--runs N] [--lessons DIR]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time

MARKER = b"Choose a lesson"
TARGET_S = 0.5


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far: a figure the machine's load does not inflate."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def one_run(lessons: str | None, timeout: float = 20.0) -> tuple[float, float]:
    home = tempfile.mkdtemp(prefix="tutor-bench-")
    env = dict(os.environ, TUTOR_HOME=home, TERM=os.environ.get("TERM", "xterm-256color"), COLUMNS="80", LINES="24")
    argv = [sys.executable, "-m", "tutor"] + (["--lessons", lessons] if lessons else [])
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
                            start_new_session=True)
    os.close(slave)
    seen = b""
    painted = None
    try:
        while time.perf_counter() - start < timeout:
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            seen += chunk
            if MARKER in seen:
                painted = time.perf_counter() - start
                cpu = cpu_seconds(proc.pid)
                break
        if painted is None:
            raise RuntimeError(f"no first paint within {timeout} s; the app wrote: {seen[-400:]!r}")
        os.write(master, b"\x11")  # ctrl+q
        end = time.perf_counter() + 10
        while proc.poll() is None and time.perf_counter() < end:
            if select.select([master], [], [], 0.05)[0]:
                try:
                    os.read(master, 65536)
                except OSError:
                    break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(master)
        shutil.rmtree(home, ignore_errors=True)
    return painted, cpu


def python_start() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--lessons", help="a lessons folder (default: the built-in lessons)")
    args = parser.parse_args()
    one_run(args.lessons)  # warm the file cache and bytecode
    runs = [one_run(args.lessons) for _ in range(args.runs)]
    times = [t for t, _ in runs]
    cpus = [c for _, c in runs]
    base = min(python_start() for _ in range(3))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"tutor first paint at 80x24 over {args.runs} runs (python startup alone: {base * 1000:.0f} ms;"
          f" load average {load:.2f} on {os.cpu_count()} CPUs)")
    print(f"  wall: min {min(times) * 1000:.0f} ms   median {statistics.median(times) * 1000:.0f} ms   max {max(times) * 1000:.0f} ms")
    print(f"  CPU time of the process until then: median {statistics.median(cpus) * 1000:.0f} ms")
    ok = statistics.median(times) < TARGET_S
    print(f"  target: median under {TARGET_S * 1000:.0f} ms: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
