"""The worker's children as processes: forking one for a job, and the pool of pre-forked ones.

`Pool.fork` makes a child with its pipes (output, result, and for a pre-forked child its job), its
marker page and its pidfd, and runs `child.run` or `child.pooled` in it. Once the worker has been
idle for a moment it calls `refill`, which pre-forks up to `size` children (POOL_SIZE, at most
`max_parallel`) that apply the job-independent layers and block reading their job; `start` hands a
job to a waiting child when there is one (sends it down its job pipe) and forks a fresh one
otherwise. A child that has sent its whole result is killed at once and reaped later (`dying`,
`reap_dying`). Every child leads a process group of its own (the session layer), so a kill reaches
what it left behind.
"""

from __future__ import annotations

import mmap
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

from tutor.sandbox import child, framing, layers
from tutor.sandbox.child import Marker
from tutor.sandbox.jobs import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, Job

POOL_SIZE = 2  # pre-forked children at most (a grade runs two jobs at once; more would only hold memory)


@dataclass
class Forked:
    """A forked child and the worker's ends of its pipes."""

    pid: int
    out_fd: int
    res_fd: int
    pidfd: int | None
    marker: Marker
    job_fd: int | None = None  # a pre-forked child's job pipe (write end) until its job is sent
    start: float = 0.0  # when its job was handed over (time.monotonic())


def vm_size_bytes() -> int:
    """This process's virtual size (the base for the child's RLIMIT_AS)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[0]) * mmap.PAGESIZE
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 * 4


def kill_group(pid: int) -> None:
    """SIGKILL the child's process group (it leads one after setsid), else just the child."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
            return
    except OSError:
        pass
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def has_exited(pid: int) -> bool:
    """The child has ended (it is a zombie, or gone); it is not reaped."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


class Pool:
    """Forks the worker's children; keeps up to `size` pre-forked ones waiting for a job."""

    def __init__(self, host: child.Host, size: int, keep_fds: tuple[int, ...]) -> None:
        self.host = host
        self.size = size
        self.keep_fds = keep_fds
        self.idle: list[Forked] = []  # pre-forked, their job-independent layers applied, waiting
        self.dying: list[int] = []  # children that sent their result and were killed, not yet reaped

    @property
    def short(self) -> bool:
        """Fewer pre-forked children wait than the pool holds."""
        return len(self.idle) < self.size

    def start(self, job: Job, data: dict[str, Any], others: list[Marker]) -> Forked:
        """A child running `job`: a pre-forked one when one is waiting, else a new fork. `others`: the
        markers of the running children (a new child closes its copies)."""
        idle = self.take()
        start = time.monotonic()
        if idle is not None and not self._send(idle, job):
            idle = None
        if idle is None:
            start = time.monotonic()
            idle = self.fork(others, job, data)
        idle.start = start
        return idle

    def _send(self, idle: Forked, job: Job) -> bool:
        try:
            framing.write_json(idle.job_fd, job.to_wire())
            os.close(idle.job_fd)
            idle.job_fd = None
        except (OSError, ValueError, TypeError):
            self.discard(idle)
            return False
        return True

    def fork(self, others: list[Marker], job: Job | None, data: dict[str, Any] | None) -> Forked:
        """Fork a child that runs `job`, or, with job None, a pre-forked child that waits for its job on
        a pipe (then `job_fd` is the pipe's write end)."""
        marker = Marker()
        out_r, out_w = os.pipe()
        res_r, res_w = os.pipe()
        job_r, job_w = os.pipe() if job is None else (None, None)
        ctx = layers.Context(
            worker_pid=os.getpid(),
            capture_fd=out_w,
            result_fd=res_w,
            timeout=job.timeout if job is not None else DEFAULT_TIMEOUT,
            memory_mb=job.memory_mb if job is not None else DEFAULT_MEMORY_MB,
            base_vm_bytes=vm_size_bytes(),
            output_cap=child.OUTPUT_CAP,
            keep_fds=self.keep_fds,
        )
        others = others + [i.marker for i in self.idle]
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError:
            for fd in (out_r, out_w, res_r, res_w, job_r, job_w):
                if fd is not None:
                    os.close(fd)
            marker.close()
            raise
        if pid == 0:  # the child: never returns
            _become_child(self.host, others, job, data, marker, ctx, job_r, job_w)
        os.close(out_w)
        os.close(res_w)
        if job_r is not None:
            os.close(job_r)
        os.set_blocking(out_r, False)
        os.set_blocking(res_r, False)
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = None
        return Forked(pid, out_r, res_r, pidfd, marker, job_w)

    def refill(self, busy: Callable[[], bool] | None = None) -> None:
        """Pre-fork children until `size` wait for a job, stopping early when `busy()` says a request
        has arrived (it is served first; the pool fills again after it)."""
        self.reap_dying(block=False)
        while self.short:
            if busy is not None and busy():
                return
            try:
                forked = self.fork([], None, None)
            except OSError:
                return
            self.idle.append(forked)

    def take(self) -> Forked | None:
        """A waiting child that is still alive, or None."""
        while self.idle:
            idle = self.idle.pop(0)
            if not has_exited(idle.pid):
                return idle
            self.discard(idle)  # it failed a layer, or was killed, while it waited
        return None

    def discard(self, idle: Forked) -> None:
        """End a child that has no job (or whose job could not be sent) and reap it."""
        for fd in (idle.job_fd, idle.out_fd, idle.res_fd, idle.pidfd):
            if fd is not None and fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        kill_group(idle.pid)
        try:
            os.waitpid(idle.pid, 0)
        except ChildProcessError:
            pass
        try:
            idle.marker.close()
        except (BufferError, ValueError):
            pass

    def reap_dying(self, block: bool = True) -> None:
        """Reap the children that replied early (see child.DONE); with block, wait for each to be gone."""
        left = []
        for pid in self.dying:
            try:
                done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
            except ChildProcessError:
                continue
            if not done:
                left.append(pid)
        self.dying = left

    def close(self) -> None:
        """End every pre-forked child and reap every child (the worker is exiting)."""
        while self.idle:
            self.discard(self.idle.pop())
        self.reap_dying()


def _become_child(host: child.Host, others: list[Marker], job: Job | None, data: dict[str, Any] | None,
                  marker: Marker, ctx: layers.Context, job_r: int | None, job_w: int | None) -> None:
    """The forked child's whole life: run its job (or wait for one) and exit with the code it gives."""
    code = child.EXIT_UNEXPECTED
    try:
        for other in others:
            other.close()
        if job is None:
            os.close(job_w)
            code = child.pooled(host, job_r, marker, ctx)
        else:
            code = child.run(host, job, data or {}, marker, ctx)
    finally:
        os._exit(code)
