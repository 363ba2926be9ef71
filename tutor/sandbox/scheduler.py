"""One run request, from its jobs to their replies: which job starts when, and what each child sent.

`Request.run` loads every job (a job that cannot be set up gets its reply at once, never forked),
then loops until every job has its reply: release the jobs that waited on another one and are now
needed (or skip them), start pending jobs while fewer than `max_parallel` children run, wait for
the children's pipes (or a deadline, a marker to look at, output to relay), relay streamed output,
and collect the children that ended (or ran past their deadline: their group is killed, "timeout").
A `Running` child's output is kept up to child.OUTPUT_CAP and read and dropped past it, so the child
never blocks; a result past child.RESULT_CAP kills it ("oversize"). A child that has set DONE and
closed its result pipe gets its reply without waiting for its exit (the pool reaps it later).
"""

from __future__ import annotations

import collections
import errno
import os
import selectors
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from tutor.sandbox import child, layers, wire
from tutor.sandbox.child import Marker
from tutor.sandbox.jobs import Job, JobError
from tutor.sandbox.pool import Pool, has_exited, kill_group

STREAM_EVERY = 0.1  # seconds between two output frames of one streamed run
DEFER_POLL = 0.005  # seconds between two looks at the marker of a job that another job waits on
SKIPPED = "not needed: the run it waited on ended with every check agreeing"
HUNG = "not needed: the run it waited on ran out of time in a blank it checks, every check agreeing"

Reply = tuple[dict, bytes]  # the reply's JSON object and the child's result blob
Emit = Callable[[dict], None]


class Host(Protocol):
    """The worker, as a request sees it."""

    max_parallel: int
    pool: Pool
    runtime: Any  # NEED and CLEAN: the values of the marker's slot 1

    def load(self, raw: Any) -> tuple[Job, dict[str, Any]]: ...


def classify(killed_for: str | None, wait_status: int) -> tuple[str, int | None, int | None, str]:
    """(status, exit code, signal, detail) of a reaped child."""
    if killed_for == "skipped":
        return "skipped", None, None, SKIPPED
    if killed_for == "hung":
        return "skipped", None, None, HUNG
    if os.WIFSIGNALED(wait_status):
        sig = os.WTERMSIG(wait_status)
        if killed_for == "timeout":
            return "timeout", None, sig, "the run went past its time limit"
        if killed_for == "oversize":
            return "oversize", None, sig, f"the run's result was larger than {child.RESULT_CAP // (1024 * 1024)} MiB"
        if sig == signal.SIGXCPU:
            return "timeout", None, sig, "the run used up its CPU time limit"
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return "crashed", None, sig, f"the run was killed by signal {name}"
    code = os.WEXITSTATUS(wait_status) if os.WIFEXITED(wait_status) else None
    if killed_for:
        return classify(killed_for, signal.SIGKILL)[0], code, None, ""
    if code == 0:
        return "ok", 0, None, ""
    detail = layers.reason_for_exit(code) or child.EXIT_REASONS.get(code) or f"the run exited with code {code}"
    return "crashed", code, None, detail


def reply(job_id: Any, status: str, code: int | None = None, sig: int | None = None, marker: int | None = None,
          stdout: str = "", truncated: bool = False, wall: float = 0.0, detail: str = "") -> dict:
    """The worker's reply for one job (docs/sandbox.md, "Worker reply per job")."""
    if not isinstance(job_id, (str, int, float, bool)) and job_id is not None:
        job_id = str(job_id)
    return {
        "id": job_id,
        "status": status,
        "exit": code,
        "signal": sig,
        "marker": marker,
        "stdout": stdout,
        "stdout_truncated": truncated,
        "wall": round(wall, 6),
        "detail": detail,
    }


def waits_on(jobs: list[Job | None], i: int) -> tuple[int, float, frozenset[int]] | None:
    """(job index, seconds, hold) of job i's well-formed "after", else None. It may only name another job
    of the request that waits on nothing itself (one refused before it ran waits on nothing)."""
    after = jobs[i].after if jobs[i] is not None else None
    if after is None or after.job is None:
        return None
    k = after.job
    if not 0 <= k < len(jobs) or k == i:
        return None
    target = jobs[k]
    if target is not None and target.after is not None:
        return None
    return k, after.seconds, after.hold


@dataclass
class Running:
    """A child running job `index` of the request, and what it has sent so far."""

    index: int
    job_id: Any
    pid: int
    out_fd: int | None
    res_fd: int | None
    pidfd: int | None
    marker: Marker
    start: float
    deadline: float
    out: bytearray = field(default_factory=bytearray)
    out_total: int = 0
    res: bytearray = field(default_factory=bytearray)
    killed_for: str | None = None
    exited: bool = False
    done: bool = False  # the child sent its whole result and said so (DONE in its marker)
    stream: bool = False  # send its output, whole lines, while it runs
    streamed: int = 0  # bytes of `out` sent so far
    last_emit: float = 0.0

    def on_ready(self, fd: int, sel: selectors.BaseSelector) -> None:
        if fd not in (self.out_fd, self.res_fd, self.pidfd) or self.exited and fd == self.pidfd:
            return  # closed earlier in the same batch of events
        if fd == self.pidfd:
            self.exited = True
            sel.unregister(fd)
            return
        self.read(fd, sel, drain=False)

    def read(self, fd: int, sel: selectors.BaseSelector, drain: bool) -> None:
        """Read what the pipe holds (one chunk, or all with `drain`); close it at its end."""
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                chunk = b""
            if not chunk:
                self._ended(fd, sel)
                return
            if fd == self.out_fd:
                room = child.OUTPUT_CAP - len(self.out)
                if room > 0:
                    self.out += chunk[:room]
                self.out_total += len(chunk)
            elif not self._add_result(chunk, sel):
                return
            if not drain:
                return

    def _ended(self, fd: int, sel: selectors.BaseSelector) -> None:
        sel.unregister(fd)
        os.close(fd)
        if fd == self.out_fd:
            self.out_fd = None
            return
        self.res_fd = None
        if self.killed_for is None and self.marker.view[0] == child.DONE:
            self.done = self.exited = True

    def _add_result(self, chunk: bytes, sel: selectors.BaseSelector) -> bool:
        """Keep a piece of the result; past the cap, kill the child and close the pipe (False)."""
        self.res += chunk
        if len(self.res) <= child.RESULT_CAP:
            return True
        self.res = bytearray()
        if self.killed_for is None:
            self.killed_for = "oversize"
            kill_group(self.pid)
        sel.unregister(self.res_fd)
        os.close(self.res_fd)
        self.res_fd = None
        return False

    def relay(self, emit: Emit, now: float) -> None:
        """Send the child's new whole lines of output (a line's bytes never end inside a character)."""
        end = self.out.rfind(b"\n", self.streamed)
        if end < 0:
            return
        chunk = bytes(self.out[self.streamed : end + 1])
        self.streamed = end + 1
        self.last_emit = now
        emit({"output": {"job": self.index, "text": wire.clean_output(chunk.decode("utf-8", "replace"))}})

    def finish(self, sel: selectors.BaseSelector, dying: list[int]) -> Reply:
        """The reply and blob of a child that has ended (or sent its whole result)."""
        # The child is a zombie now (pidfd readable or waitid said so), or it has sent its whole result
        # and is on its way out (done): either way its group id is still reserved, so killing the group
        # reaches anything it left behind and nothing else.
        kill_group(self.pid)
        if self.done:
            # Tearing down a process the size of the worker takes longer than many runs: reply now
            # and reap it later (Pool.reap_dying).
            wait_status = 0
            dying.append(self.pid)
        else:
            _, wait_status = os.waitpid(self.pid, 0)
        wall = time.monotonic() - self.start
        for fd in (self.out_fd, self.res_fd):
            if fd is not None:
                self.read(fd, sel, drain=True)
        status, code, sig, detail = classify(self.killed_for, wait_status)
        marker = self.marker.get()
        blob = bytes(self.res) if status == "ok" else b""
        self.close(sel)
        text = wire.clean_output(bytes(self.out).decode("utf-8", "replace"))
        truncated = self.out_total > child.OUTPUT_CAP
        return reply(self.job_id, status, code, sig, marker, text, truncated, wall, detail), blob

    def close(self, sel: selectors.BaseSelector) -> None:
        for name in ("out_fd", "res_fd", "pidfd"):
            fd = getattr(self, name)
            if fd is None:
                continue
            try:
                sel.unregister(fd)
            except (KeyError, ValueError):
                pass
            try:
                os.close(fd)
            except OSError:
                pass
            setattr(self, name, None)
        try:
            self.marker.close()
        except (BufferError, ValueError):
            pass


class Request:
    """Runs one request's jobs, at most max_parallel at once; `run` gives (reply, blob) per job, in order.

    For a job with ``"stream": true``, `emit` gets ``{"output": {"job": index, "text": ...}}`` while it
    runs: whole lines of its output (cleaned, within the output cap), at most every STREAM_EVERY s.
    A job with "after": {"job": k, "seconds": s} waits: it starts once job k's checks ask for it (NEED
    in k's marker), once k ends without CLEAN, or s seconds into k's run; it is skipped when k ends
    CLEAN (and killed then, if it had started on the clock). With "hold" (blanks k checks in place),
    the clock waits while k runs inside one of them with no check disagreeing, and the job is skipped
    when k's timeout kills it there (and killed, if it had started on the clock): it would hang in
    the same call."""

    def __init__(self, host: Host, jobs: list[Any], emit: Emit | None = None) -> None:
        self.host = host
        self.emit = emit
        self.results: list[Reply | None] = [None] * len(jobs)
        self.pending: collections.deque[tuple[int, Job, dict]] = collections.deque()
        self.deferred: dict[int, tuple[Job, dict, int, float, frozenset[int]]] = {}  # job -> (.., the job it waits on, s, hold)
        self.waits_on: dict[int, int] = {}  # started deferred job -> the job it waited on
        self.holds: dict[int, frozenset[int]] = {}  # started deferred job -> its "hold"
        self.clean: dict[int, bool] = {}  # finished job -> ended CLEAN
        self.hung_in: dict[int, int] = {}  # finished job -> the blank its timeout killed it in, checks all agreeing
        self.running: dict[int, Running] = {}  # by pid
        self._load(jobs)
        self.sel = selectors.DefaultSelector()

    def _load(self, raw_jobs: list[Any]) -> None:
        loaded: list[tuple[Job, dict] | None] = []
        for i, raw in enumerate(raw_jobs):
            try:
                loaded.append(self.host.load(raw))
            except JobError as exc:
                msg = str(exc)
                job_id = raw.get("id") if isinstance(raw, dict) else None
                self.results[i] = (reply(job_id, "ok", detail=msg), child.error_blob(msg))
                loaded.append(None)
        jobs = [item[0] if item is not None else None for item in loaded]
        for i, item in enumerate(loaded):
            if item is None:
                continue
            after = waits_on(jobs, i)
            if after is not None:
                self.deferred[i] = (*item, *after)
            else:
                self.pending.append((i, *item))

    def run(self) -> list[Reply]:
        try:
            while self.pending or self.running or self.deferred:
                self._release(time.monotonic())
                self._start_pending()
                if not self.running:
                    continue
                for key, _ in self.sel.select(self._wait_time()):
                    key.data.on_ready(key.fd, self.sel)
                now = time.monotonic()
                self._relay(now)
                self._collect(now)
        finally:
            self._abandon()
        return [r if r is not None else ({}, b"") for r in self.results]

    def _release(self, now: float) -> None:
        """Start (or skip) the deferred jobs whose job has ended, asked for them, or run long enough."""
        for i, (job, data, k, secs, hold) in list(self.deferred.items()):
            if self.results[k] is not None:
                del self.deferred[i]
                if self.clean.get(k) or self.hung_in.get(k, -1) in hold:
                    self.results[i] = (reply(job.id, "skipped", detail=SKIPPED if self.clean.get(k) else HUNG), b"")
                    continue
            else:
                waited = next((c for c in self.running.values() if c.index == k), None)
                if waited is None or (waited.marker.view[1] != self.host.runtime.NEED
                                      and (now - waited.start < secs or self._checking(waited) in hold)):
                    continue
                del self.deferred[i]
            self.pending.append((i, job, data))
            self.waits_on[i] = k
            self.holds[i] = hold

    def _start_pending(self) -> None:
        while self.pending and len(self.running) < self.host.max_parallel:
            i, job, data = self.pending.popleft()
            try:
                forked = self.host.pool.start(job, data, [c.marker for c in self.running.values()])
            except OSError as exc:
                msg = f"the run could not be started ({exc.strerror or exc})"
                self.results[i] = (reply(job.id, "crashed", detail=msg), b"")
                continue
            started = Running(i, job.id, forked.pid, forked.out_fd, forked.res_fd, forked.pidfd, forked.marker,
                              forked.start, forked.start + job.timeout)
            for fd in (forked.out_fd, forked.res_fd, forked.pidfd):
                if fd is not None:
                    self.sel.register(fd, selectors.EVENT_READ, started)
            started.stream = self.emit is not None and job.stream
            self.running[started.pid] = started

    def _wait_time(self) -> float:
        """How long to wait for the children's pipes before the loop must look again."""
        running = self.running.values()
        live = [c.deadline for c in running if c.killed_for is None]
        wait = max(0.0, min(live) - time.monotonic()) if live else 0.05
        if self.deferred:
            wait = min(wait, DEFER_POLL)
        if any(c.pidfd is None for c in running):
            wait = min(wait, 0.005)
        if any(c.stream and len(c.out) > c.streamed for c in running):
            wait = min(wait, STREAM_EVERY)
        return min(wait, 1.0)

    def _relay(self, now: float) -> None:
        for running in self.running.values():
            if running.stream and now - running.last_emit >= STREAM_EVERY:
                running.relay(self.emit, now)

    def _collect(self, now: float) -> None:
        """Kill the children past their deadline; reply for those that ended."""
        for running in list(self.running.values()):
            if running.killed_for is None and now >= running.deadline:
                running.killed_for = "timeout"
                kill_group(running.pid)
            if not running.exited and running.pidfd is None:
                running.exited = has_exited(running.pid)
            if not running.exited:
                continue
            del self.running[running.pid]
            k = running.index
            self.clean[k] = running.killed_for is None and running.marker.view[1] == self.host.runtime.CLEAN
            if running.killed_for == "timeout" and self._checking(running) >= 0:
                self.hung_in[k] = self._checking(running)
            self.results[k] = running.finish(self.sel, self.host.pool.dying)
            if self.clean[k]:
                self._skip_waiters(k)
            elif k in self.hung_in:
                self._skip_waiters(k, self.hung_in[k])

    def _checking(self, running: Running) -> int:
        """The blank `running` is in, evaluating the learner's own code with every check so far
        agreeing; else -1 (the runtime's marker slots: 0 the blank, 1 NEED, 2 IN_REFERENCE)."""
        view = running.marker.view
        if view[1] == self.host.runtime.NEED or view[2] != 0:
            return -1
        return view[0]

    def _skip_waiters(self, k: int, hung: int | None = None) -> None:
        """Job k ended CLEAN (or its timeout killed it in blank `hung`, which the waiting job holds on):
        the jobs that started on the clock waiting on it are not needed after all."""
        for other in self.running.values():
            if (self.waits_on.get(other.index) == k and other.killed_for is None
                    and (hung is None or hung in self.holds.get(other.index, ()))):
                kill_group(other.pid)
                other.killed_for = "skipped" if hung is None else "hung"
                other.done = other.exited = True  # reply now, reap later

    def _abandon(self) -> None:
        """Only after an error in the loop itself: leave no child behind."""
        for running in self.running.values():
            kill_group(running.pid)
            try:
                os.waitpid(running.pid, 0)
            except ChildProcessError:
                pass
            running.close(self.sel)
        self.sel.close()
