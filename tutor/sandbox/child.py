"""What runs in a forked child of the worker: the layers, the seed, the program, the result.

A child runs one job and exits (`os._exit` in pool.fork, with the code one of these functions
returns). A fresh fork calls `run`; a pre-forked one calls `pooled`, which applies the
job-independent layers, warms up and seeds while it waits, reads its job from a pipe, and then goes
on as `run` from the remaining layers. The marker page tells the worker which blank is running,
whether a job waiting on this one is needed (slot 1: the runtime's NEED or CLEAN), and that the
whole result is written (DONE). The program itself cannot choose an exit code (it has no sys, no os,
and the runtime turns whatever it raises into a result), so a code other than 0 is the child's own
machinery failing: EXIT_REASONS says which part.

Nothing here imports numpy, torch or the runtime: the worker imports them after it has probed the
layers, and hands them over as the `Host`.
"""

from __future__ import annotations

import json
import mmap
import os
import random
from typing import Any, Protocol

from tutor.sandbox import framing, layers, wire
from tutor.sandbox.jobs import Job, JobError

OUTPUT_CAP = 64 * 1024  # the child's stdout and stderr, together, that the worker keeps
RESULT_CAP = wire.MAX_BYTES  # the result blob; past it the worker kills the child ("oversize")

# The child's marker after its whole result is written: the worker replies without waiting for the
# exit (a forked copy of a torch-sized worker takes ~10 ms to tear down), and reaps it later.
DONE = -2

EXIT_SETUP = 120
EXIT_RUNTIME = 121
EXIT_ENCODE = 122
EXIT_WRITE = 123
EXIT_UNEXPECTED = 124
EXIT_REASONS = {
    EXIT_SETUP: "the run could not be prepared (seeding the random generators failed)",
    EXIT_RUNTIME: "the tutor's runtime failed inside the run",
    EXIT_ENCODE: "the run's result could not be encoded",
    EXIT_WRITE: "the run's result could not be sent back",
    EXIT_UNEXPECTED: "the run failed before the program started",
}

_DENIED_WORDS = ("Operation not permitted", "Permission denied", "Function not implemented", "Read-only file system",
                 "Network is unreachable")
DENIED_SENTENCE = ("the sandbox does not allow this: lesson programs cannot start programs or processes, "
                   "touch files, or use the network")


class Marker:
    """The blank the child is running, in an anonymous shared page the worker reads after the child ends.

    `view[0] = i` is the fast way to set it (the runtime's hooks do that on every blank call)."""

    def __init__(self) -> None:
        self._map = mmap.mmap(-1, mmap.PAGESIZE)
        self.view = memoryview(self._map).cast("q")
        self.view[0] = -1

    def set(self, i: int | None) -> None:
        try:
            value = -1 if i is None else int(i)
            self.view[0] = value if 0 <= value < 2**62 else -1
        except (ValueError, TypeError, OverflowError):
            self.view[0] = -1

    def get(self) -> int | None:
        value = self.view[0]
        return value if value >= 0 else None

    def close(self) -> None:
        self.view.release()
        self._map.close()


class Host(Protocol):
    """The worker, as the child it forked sees it."""

    runtime: Any  # tutor.sandbox.runtime: execute, NEED, CLEAN
    modules: dict[str, Any]  # what a job's names may ask for
    pre_layers: int  # how many layers a pre-forked child applies before its job comes
    next_seed: int  # the last job's seed: what a pre-forked child seeds with while it waits

    def load(self, raw: Any) -> tuple[Job, dict[str, Any]]: ...

    def seed(self, seed: int) -> None: ...

    def warm_child(self) -> None: ...


def explain_denial(header: Any, depth: int = 0, budget: list[int] | None = None) -> None:
    """Errors the OS layers caused (EPERM, EACCES...) anywhere in the header (the run's own error, a
    blank's error) get a sentence a learner understands in front of the system's words."""
    budget = [20000] if budget is None else budget  # containers visited at most: the header can be large
    budget[0] -= 1
    if depth > 6 or budget[0] < 0:
        return
    if isinstance(header, list):
        for item in header:
            if isinstance(item, (dict, list)):
                explain_denial(item, depth + 1, budget)
        return
    if not isinstance(header, dict):
        return
    typ, msg = header.get("type"), header.get("message")
    if isinstance(typ, str) and isinstance(msg, str) and not msg.startswith(DENIED_SENTENCE):
        if typ == "PermissionError" or any(w in msg for w in _DENIED_WORDS):
            header["message"] = f"{DENIED_SENTENCE} ({msg[:200]})"
            header["sandbox"] = True
    for value in header.values():
        if isinstance(value, (dict, list)):
            explain_denial(value, depth + 1, budget)


def error_blob(message: str) -> bytes:
    """The result of a job refused before its program ran: the header's error is a SandboxError."""
    return wire.encode({"status": "error", "error": {"type": "SandboxError", "message": message}, "setup": True}, [])


def run(host: Host, job: Job, data: dict[str, Any], marker: Marker, ctx: layers.Context, first_layer: int = 0,
        seeded: int | None = None) -> int:
    """Apply the layers from `first_layer` on, seed (unless the generators are already seeded with
    `seeded`), run the program and send its result; the exit code (0 once the result is written)."""
    try:
        layers.apply_all(ctx, first_layer)
    except layers.ThreadsNotIsolated as exc:  # a thread would run outside a layer: refuse, never run
        return _refuse(ctx, str(exc))
    except layers.LayerFailed as exc:
        return _layer_failed(exc)
    try:
        if job.seed != seeded:
            host.seed(job.seed)
    except BaseException:  # noqa: BLE001
        return EXIT_SETUP
    spec = job.to_wire()  # what the runtime reads; it drops the source once compiled
    job.source = ""  # nor does this copy of the reference answers' text outlive the compile
    try:
        header, arrays = host.runtime.execute(spec, host.modules, data, marker, seal=True)
    except BaseException:  # noqa: BLE001 - runtime.execute promises not to raise
        return EXIT_RUNTIME
    if header.get("status") == "ok" and marker.view[1] != host.runtime.NEED:
        marker.view[1] = host.runtime.CLEAN  # a job waiting on this one is not needed
    explain_denial(header)
    blob = _encode(header, arrays)
    if blob is None:
        return EXIT_ENCODE
    try:
        framing.write_all(ctx.result_fd, blob)
        marker.view[0] = DONE  # before the close: the worker may reply as soon as it sees the end
        os.close(ctx.result_fd)
    except BaseException:  # noqa: BLE001
        return EXIT_WRITE
    return 0


def pooled(host: Host, job_fd: int, marker: Marker, ctx: layers.Context) -> int:
    """A pre-forked child: the job-independent layers, warm-up and seed, wait for the job on `job_fd`,
    then `run` from the remaining layers; the exit code."""
    if job_fd <= layers.RESULT_FD:  # keep it clear of the descriptors the stdio layer puts in place
        import fcntl

        job_fd = fcntl.fcntl(job_fd, fcntl.F_DUPFD_CLOEXEC, 10)
    ctx.keep_fds = tuple(ctx.keep_fds) + (job_fd,)
    try:
        layers.apply_all(ctx, 0, host.pre_layers)
    except layers.LayerFailed as exc:
        return _layer_failed(exc)
    seeded: int | None = None
    try:
        # Touch the paths every job takes here, in the idle time: a forked child pays a copy-on-write
        # page fault the first time it writes to each page it shares with the worker.
        host.warm_child()
        seeded = host.next_seed  # most jobs reuse the last job's seed: seed now, not after the job comes
        host.seed(seeded)
    except BaseException:  # noqa: BLE001
        seeded = None
    try:
        payload = framing.read_frame(job_fd)
    except (OSError, ValueError):
        return EXIT_UNEXPECTED
    if payload is None:
        return 0  # the pool was closed: no job will come
    os.close(job_fd)
    try:
        job, data = host.load(json.loads(payload))  # the worker loaded it already: cache hits here
    except JobError as exc:
        return _refuse(ctx, str(exc))
    except ValueError:
        return EXIT_UNEXPECTED
    del payload
    ctx.timeout = job.timeout
    ctx.memory_mb = job.memory_mb
    return run(host, job, data, marker, ctx, first_layer=host.pre_layers, seeded=seeded)


def _refuse(ctx: layers.Context, message: str) -> int:
    """Send a refusal as the result (the program never ran); the exit code."""
    try:
        framing.write_all(ctx.result_fd, error_blob(message))
        os.close(ctx.result_fd)
    except OSError:
        return EXIT_WRITE
    return 0


def _encode(header: dict, arrays: list) -> bytes | None:
    """The result blob; a header the wire refuses (nested too deep...) becomes a ResultError saying so."""
    try:
        return wire.encode(header, arrays)
    except BaseException as exc:  # noqa: BLE001 - e.g. a header nested too deep: say so instead
        try:
            message = f"the run's result could not be encoded ({type(exc).__name__}: {str(exc)[:200]})"
            return wire.encode({"status": "error", "error": {"type": "ResultError", "message": message}}, [])
        except BaseException:  # noqa: BLE001
            return None


def _layer_failed(exc: layers.LayerFailed) -> int:
    """Say which layer failed (on the child's stderr, the capture pipe) and pick the exit code."""
    try:
        os.write(2, f"tutor sandbox: {exc}\n".encode("utf-8", "replace"))
    except OSError:
        pass
    return layers.EXIT_LAYER_BASE + exc.index


def seed_all(np: Any, torch: Any, seed: int) -> None:
    """Seed Python's, numpy's and (when loaded) torch's generators."""
    random.seed(seed)
    np.random.seed(seed)
    if torch is not None:
        torch.manual_seed(seed)
