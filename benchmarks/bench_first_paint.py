"""First paint of `tutor`, quitting right after it, and the first check after start.

- First paint: seconds from starting the process to the lesson list on screen. Runs the real
  command in a pseudo-terminal of 80x24 (a fresh progress folder each time, so the evaluator starts
  too, as for a new learner), reads what it writes until the lesson list's text appears. Target:
  median under 0.5 s.
- Quit right after first paint: then it presses ctrl+q at once (the evaluator is still importing
  torch) and times the key to the process's end, which is when the shell prompt comes back. Target:
  median under 0.3 s.
- First torch verdict after start: the app with the real grader factory (headless, Textual's
  pilot), started at t=0; as soon as the lessons are read it opens a torch lesson, waits 10 s as a
  learner typing would, fills in the reference answers and checks: the time from the check to the
  verdict, beside a second check in the same run (warm). Target: the first within 1.5x the warm.

    python benchmarks/bench_first_paint.py [--runs N] [--lessons DIR] [--check-lesson ID] [--typing S]
"""

from __future__ import annotations

import argparse
import asyncio
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
QUIT_TARGET_S = 0.3
FIRST_CHECK_RATIO = 1.5


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far: a figure the machine's load does not inflate."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def one_run(lessons: str | None, timeout: float = 20.0) -> tuple[float, float, float]:
    """(seconds to the first paint, CPU seconds used until then, seconds from ctrl+q right after it to the end)."""
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
        pressed = time.perf_counter()
        os.write(master, b"\x11")  # ctrl+q
        end = pressed + 30
        while proc.poll() is None and time.perf_counter() < end:
            if select.select([master], [], [], 0.005)[0]:
                try:
                    os.read(master, 65536)
                except OSError:
                    pass  # the terminal's side closes as the app ends; `wait` below times the end
            proc.poll()
        try:
            proc.wait(max(0.0, end - time.perf_counter()))
        except subprocess.TimeoutExpired:
            raise RuntimeError("the app did not end within 30 s of ctrl+q") from None
        quit_s = time.perf_counter() - pressed
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(master)
        shutil.rmtree(home, ignore_errors=True)
    return painted, cpu, quit_s


def first_check(lessons: str | None, lesson_id: str, typing: float) -> dict[str, float]:
    """Seconds from start to the evaluator ready, and from a check to its verdict: the first after
    `typing` seconds in the lesson, and a second one (warm) right after it."""
    from tutor.app.app import make_app
    from tutor.progress import ProgressStore

    home = tempfile.mkdtemp(prefix="tutor-bench-")
    figures: dict[str, float] = {}

    async def flow() -> None:
        start = time.perf_counter()
        store = ProgressStore.open(os.path.join(home, "progress.sqlite3"))
        app = make_app(lessons, store)  # the real grader factory: an evaluator with numpy and torch
        async def watch_ready() -> None:
            while not app.grader_ready:
                await asyncio.sleep(0.01)
            figures["ready"] = time.perf_counter() - start

        try:
            async with app.run_test(size=(80, 24)) as pilot:
                watcher = asyncio.create_task(watch_ready())
                while app.lessons is None:
                    await pilot.pause(0.01)
                lesson = next((l for l in app.lessons if l.id == lesson_id), None)
                if lesson is None:
                    raise SystemExit(f"no lesson {lesson_id!r} here")
                app.open_lesson(lesson)
                await pilot.pause()
                screen = app.screen
                opened = time.perf_counter()
                figures["opened"] = opened - start
                while time.perf_counter() - opened < typing:
                    await pilot.pause(0.05)
                figures["checked"] = time.perf_counter() - start
                for name, blank in lesson.blanks.items():
                    screen.slots[name].set_value(blank.answer)
                for label in ("first", "warm"):
                    checks = len(store.attempts(lesson.id))  # the screen records each verdict as it arrives
                    clicked = time.perf_counter()
                    await pilot.press("ctrl+r")
                    while screen.checking or len(store.attempts(lesson.id)) == checks:
                        await pilot.pause(0.005)
                        if time.perf_counter() - clicked > 300:
                            raise RuntimeError("no verdict within 300 s")
                    figures[label] = time.perf_counter() - clicked
                    if not screen.passed:
                        raise RuntimeError(f"the reference answers of {lesson_id} did not pass: {screen.results}")
                watcher.cancel()
                figures["typing"] = typing
        finally:
            store.close()
            shutil.rmtree(home, ignore_errors=True)

    asyncio.run(flow())
    return figures


def python_start() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--lessons", help="a lessons folder (default: the built-in lessons)")
    parser.add_argument("--check-lesson", default="linreg-torch", help="the torch lesson checked (default linreg-torch)")
    parser.add_argument("--typing", type=float, default=10.0, help="seconds in the lesson before the first check (default 10)")
    parser.add_argument("--no-check", action="store_true", help="leave out the first-check figures")
    args = parser.parse_args()
    one_run(args.lessons)  # warm the file cache and bytecode
    runs = [one_run(args.lessons) for _ in range(args.runs)]
    times = [t for t, _, _ in runs]
    cpus = [c for _, c, _ in runs]
    quits = [q for _, _, q in runs]
    base = min(python_start() for _ in range(3))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"tutor first paint at 80x24 over {args.runs} runs (python startup alone: {base * 1000:.0f} ms;"
          f" load average {load:.2f} on {os.cpu_count()} CPUs)")
    print(f"  wall: min {min(times) * 1000:.0f} ms   median {statistics.median(times) * 1000:.0f} ms   max {max(times) * 1000:.0f} ms")
    print(f"  CPU time of the process until then: median {statistics.median(cpus) * 1000:.0f} ms")
    ok = statistics.median(times) < TARGET_S
    print(f"  target: median under {TARGET_S * 1000:.0f} ms: {'met' if ok else 'NOT met'}")
    quit_ok = statistics.median(quits) < QUIT_TARGET_S
    print(f"quit right after first paint (ctrl+q to the process's end, the evaluator still starting), {args.runs} runs:")
    print(f"  min {min(quits) * 1000:.0f} ms   median {statistics.median(quits) * 1000:.0f} ms   max {max(quits) * 1000:.0f} ms"
          f"   target: median under {QUIT_TARGET_S * 1000:.0f} ms: {'met' if quit_ok else 'NOT met'}")
    if args.no_check:
        return 0 if ok and quit_ok else 1
    f = first_check(args.lessons, args.check_lesson, args.typing)
    ratio = f["first"] / f["warm"]
    check_ok = ratio <= FIRST_CHECK_RATIO
    print(f"first torch verdict after start ({args.check_lesson} opened {f['opened']:.1f} s after start, checked"
          f" {f['typing']:.0f} s later, at {f['checked']:.1f} s; the evaluator was ready at {f['ready']:.1f} s):")
    print(f"  first verdict {f['first'] * 1000:.0f} ms   warm verdict (second check, same run) {f['warm'] * 1000:.0f} ms"
          f"   ratio {ratio:.2f}   target: within {FIRST_CHECK_RATIO}x: {'met' if check_ok else 'NOT met'}")
    return 0 if ok and quit_ok and check_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
