"""Parent side of the sandbox: `Evaluator` starts the worker process and turns its replies into outcomes.

This module never imports torch (only the worker does), so the UI and CLI processes stay light.

    with Evaluator(preload=("numpy", "torch")) as ev:
        ev.start()                       # returns at once; the worker imports and warms up meanwhile
        [outcome] = ev.run([job])        # waits for readiness, then runs

Decisions where docs/sandbox.md is silent:
- `JobOutcome.status` is the worker's status ("ok", "timeout", "crashed", "oversize"), or "memory"
  (the child's header reports a MemoryError or an allocator failure), or "bad_result" (the blob did
  not decode), or "oversize" too when the blob would cost this process more than its decoding
  budget (`wire.OversizeError`: refused unread, docs/sandbox.md). An "ok" outcome may still carry a
  header whose status is "error": the program raised.
- `JobOutcome.error` is one sentence on why there is no usable result when there is one to say: the
  blob did not decode, the worker died, a layer could not be applied, the child was killed by a signal.
- The worker is started in its own session (Ctrl-C in the terminal does not reach it) and ends on
  EOF of its stdin, so it does not outlive this process.
- A run that gets no answer within 60 s plus the sum of its jobs' time limits kills the worker and
  returns "crashed" outcomes (no re-send: a request that hangs a worker would hang the next one).
- `Evaluator.kill()` is for quitting: the worker's process group is killed at once, from any thread,
  without its lock and without waiting for it to be ready, and the evaluator stays stopped (a run
  after it fails with STOPPED instead of starting a new worker). `track_evaluators()` hands a caller
  that starts evaluators through someone else's factory (the app's warm-up thread) the evaluators
  made meanwhile in its thread, so it can kill the one still starting.
- `Evaluator(require_isolation=True)` is for shared servers: when the worker reports a missing
  isolation layer, `start(wait=True)` raises EvaluatorError with one sentence naming the layers, and
  the worker refuses every job with that sentence, so nothing runs unisolated even if the caller
  never checks. `disable_layers=(...)` makes the worker treat layers as missing: how the tests
  simulate a degraded host (macOS, an old kernel, a container that forbids unshare).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Sequence

from tutor.sandbox import framing, wire
from tutor.sandbox.jobs import Job, to_wire

START_TIMEOUT = 180.0
REPLY_SLACK = 60.0
_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent.parent)
_MEMORY_TYPES = ("MemoryError", "_ArrayMemoryError", "OutOfMemoryError")
_MEMORY_MESSAGES = ("can't allocate memory", "defaultcpuallocator", "unable to allocate", "out of memory")
STOPPED = "the evaluator was stopped"
KILL_REAP = 0.05  # seconds `kill` waits to reap a killed worker before leaving it to the kernel and init


@dataclass
class JobOutcome:
    """One job's outcome: the worker's reply fields plus the decoded result."""

    id: Any
    status: str  # "ok", "timeout", "crashed", "oversize", "memory", "bad_result"
    exit: int | None = None
    signal: int | None = None
    marker: int | None = None
    stdout: str = ""
    stdout_truncated: bool = False
    wall: float = 0.0
    header: dict | None = None
    arrays: list = field(default_factory=list)
    error: str | None = None


class EvaluatorError(Exception):
    """The worker could not be started or did not answer; the message says why."""


class _WorkerGone(Exception):
    """The worker died (EOF, broken pipe): restart it and re-send once."""


class _WorkerHung(Exception):
    """The worker did not answer in time: kill it, do not re-send."""


def worker_env() -> dict[str, str]:
    """The worker's whole environment (docs/sandbox.md): nothing of the parent's but PATH and OpenBLAS tuning."""
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
    }
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def bootstrap(preload: Sequence[str], max_parallel: int | None, disabled: Sequence[str] = (),
              require_isolation: bool = False, prefork: bool = True) -> str:
    return (
        f"import sys; sys.path.insert(0, {_PACKAGE_PARENT!r}); "
        f"from tutor.sandbox.worker import main; "
        f"main({list(preload)!r}, {max_parallel!r}, {list(disabled)!r}, {bool(require_isolation)!r}, {bool(prefork)!r})"
    )


class _Proc:
    """One worker process and its pipes."""

    def __init__(self, preload: Sequence[str], max_parallel: int | None, stderr: str | None,
                 disabled: Sequence[str] = (), require_isolation: bool = False, prefork: bool = True) -> None:
        self.log: IO[bytes] = open(stderr, "ab") if stderr else tempfile.TemporaryFile()
        # The runs' working directory: empty and read-only, so a relative path names nothing of ours
        # (the Landlock layer denies every write; without it, root could still create empty files here).
        self.scratch = tempfile.mkdtemp(prefix="tutor-eval-")
        os.chmod(self.scratch, 0o555)
        try:
            self.popen = subprocess.Popen(
                [sys.executable, "-P", "-c", bootstrap(preload, max_parallel, disabled, require_isolation, prefork)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.log,
                env=worker_env(),
                cwd=self.scratch,
                start_new_session=True,
                bufsize=0,
            )
        except BaseException:
            self.log.close()
            self._remove_scratch()
            raise
        self.ready: dict | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, limit: int = 800) -> str:
        try:
            self.log.flush()
            size = self.log.seek(0, os.SEEK_END)
            self.log.seek(max(0, size - limit))
            return self.log.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""

    def send(self, obj: Any) -> None:
        try:
            framing.write_json(self.popen.stdin.fileno(), obj)
        except (BrokenPipeError, ConnectionResetError, OSError, ValueError) as exc:
            raise _WorkerGone(f"the evaluator worker stopped ({type(exc).__name__})") from None

    def recv(self, deadline: float) -> bytes | bytearray:
        """One frame from the worker (a 64 MiB blob is read straight into one buffer, never held twice)."""
        try:
            frame = framing.read_frame(self.popen.stdout.fileno(), deadline=deadline)
        except framing.FrameTimeout:
            raise _WorkerHung("the evaluator worker did not answer in time") from None
        except framing.FrameTooLarge as exc:
            raise _WorkerGone(f"the evaluator worker sent a frame of {exc.size} bytes") from None
        except OSError as exc:
            raise _WorkerGone(f"the evaluator worker stopped ({exc})") from None
        if frame is None:
            raise _WorkerGone("the evaluator worker stopped")
        return frame

    def recv_json(self, deadline: float) -> dict:
        raw = self.recv(deadline)
        try:
            obj = json.loads(raw)
        except ValueError:
            raise _WorkerGone("the evaluator worker sent a reply that is not JSON") from None
        if not isinstance(obj, dict):
            raise _WorkerGone("the evaluator worker sent a reply that is not an object")
        return obj

    def wait_ready(self, timeout: float) -> dict:
        if self.ready is None:
            try:
                msg = self.recv_json(_now() + timeout)
            except _WorkerGone:
                tail = self.log_tail()
                raise _WorkerGone("the evaluator worker could not start" + (f": {tail}" if tail else "")) from None
            if not msg.get("ready"):
                raise _WorkerGone("the evaluator worker did not say it was ready")
            self.ready = msg
        return self.ready

    def kill(self) -> None:
        """SIGKILL the worker's process group now (any thread may call it; reaping is `stop`'s job)."""
        if self.popen.returncode is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)  # it leads its group; its children die with it (die-with-parent)
        except OSError:
            try:
                self.popen.kill()
            except OSError:
                pass

    def stop(self, grace: float = 2.0, block: bool = True) -> None:
        """Ask the worker to exit, then kill it; close the pipes and reap it (without `block`, a worker
        still there after `grace` is killed and left to the kernel: `kill` must not wait for it)."""
        p = self.popen
        if p.poll() is None and grace > 0:
            try:
                framing.write_json(p.stdin.fileno(), {"op": "exit"})
            except (OSError, ValueError):
                pass
        for stream in (p.stdin, p.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        if p.poll() is None:
            try:
                os.killpg(p.pid, 9)  # the worker leads its session; its children die with it anyway
            except OSError:
                p.kill()
            if block:
                p.wait()
        try:
            self.log.close()
        except OSError:
            pass
        self._remove_scratch()

    def _remove_scratch(self) -> None:
        try:
            os.chmod(self.scratch, 0o700)
            shutil.rmtree(self.scratch, ignore_errors=True)
        except OSError:
            pass


def _now() -> float:
    return time.monotonic()


def _stop_box(box: list[_Proc | None], grace: float = 2.0, block: bool = True) -> None:
    proc, box[0] = box[0], None
    if proc is not None:
        proc.stop(grace, block)


class Tracked:
    """The evaluators made in one thread inside `track_evaluators()`. `kill()`, from any thread, kills
    them all at once, and any made after it as it is made."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._evaluators: list[weakref.ref[Evaluator]] = []
        self.killed = False

    def add(self, evaluator: Evaluator) -> None:
        with self._lock:
            self._evaluators.append(weakref.ref(evaluator))
            killed = self.killed
        if killed:
            evaluator.kill()

    @property
    def evaluators(self) -> list[Evaluator]:
        """Those made so far and still referenced, in the order they were made."""
        with self._lock:
            refs = list(self._evaluators)
        return [e for e in (ref() for ref in refs) if e is not None]

    def kill(self) -> None:
        with self._lock:
            self.killed = True
            evaluators = [ref() for ref in self._evaluators]
        for evaluator in evaluators:
            if evaluator is not None:
                evaluator.kill()


_tracking = threading.local()


@contextmanager
def track_evaluators() -> Iterator[Tracked]:
    """Collect every Evaluator this thread makes inside the block (however deep in a factory), so
    another thread can kill them while they start (`Tracked.kill`)."""
    tracked, outer = Tracked(), getattr(_tracking, "current", None)
    _tracking.current = tracked
    try:
        yield tracked
    finally:
        _tracking.current = outer


def _is_memory_error(header: Any) -> bool:
    if not isinstance(header, dict) or header.get("status") != "error":
        return False
    err = header.get("error")
    if not isinstance(err, dict):
        return False
    typ, msg = err.get("type"), err.get("message")
    if isinstance(typ, str) and typ in _MEMORY_TYPES:
        return True
    if not isinstance(msg, str):
        return False
    low = msg[:2000].lower()  # a real message is at most 600 characters; a hostile one is not read whole
    return any(m in low for m in _MEMORY_MESSAGES)


def _field(reply: dict, key: str, kinds: tuple[type, ...], default: Any) -> Any:
    v = reply.get(key, default)
    return v if isinstance(v, kinds) and not (isinstance(v, bool) and bool not in kinds) else default


def outcome_from(job: Any, reply: Any, blob: bytes | bytearray) -> JobOutcome:
    """A JobOutcome from one worker reply and its blob (decoded here, never in the worker)."""
    job_id = job.get("id") if isinstance(job, dict) else None
    if not isinstance(reply, dict):
        return JobOutcome(job_id, "crashed", error="the evaluator worker sent no reply for this run")
    out = JobOutcome(
        id=job_id,
        status=_field(reply, "status", (str,), "crashed"),
        exit=_field(reply, "exit", (int,), None),
        signal=_field(reply, "signal", (int,), None),
        marker=_field(reply, "marker", (int,), None),
        stdout=_field(reply, "stdout", (str,), ""),
        stdout_truncated=_field(reply, "stdout_truncated", (bool,), False),
        wall=float(_field(reply, "wall", (int, float), 0.0)),
        error=_field(reply, "detail", (str,), "") or None,
    )
    if out.status == "ok":
        try:
            out.header, out.arrays = wire.decode(blob)
        except wire.OversizeError as exc:  # refused unread: it would cost this process more than its budget
            out.status, out.error = "oversize", str(exc)
            return out
        except wire.WireError as exc:
            out.status, out.error = "bad_result", str(exc)
            return out
        if _is_memory_error(out.header):
            out.status = "memory"
    return out


class Evaluator:
    """Runs jobs in the sandboxed evaluator worker. Thread-safe; restarts a dead worker once per run."""

    def __init__(
        self,
        preload: Sequence[str] = ("numpy", "torch"),
        max_parallel: int | None = None,
        *,
        start_timeout: float = START_TIMEOUT,
        stderr: str | None = None,
        require_isolation: bool = False,
        disable_layers: Sequence[str] = (),
        prefork: bool = True,
    ) -> None:
        unknown = set(preload) - {"numpy", "torch"}
        if unknown:
            raise ValueError(f"preload may name numpy and torch, not {sorted(unknown)}")
        self.preload = tuple(preload)
        self.max_parallel = max_parallel
        self.start_timeout = start_timeout
        self.stderr = stderr  # a log file for the worker's stderr; a temporary file when None
        # A shared server sets require_isolation: with a layer missing, start(wait=True) raises
        # EvaluatorError with one sentence and the worker refuses every job with the same sentence.
        self.require_isolation = require_isolation
        self.disable_layers = tuple(disable_layers)  # layers treated as missing: simulates a degraded host
        # The worker pre-forks isolated children while idle, so an answer does not wait for fork and the
        # job-independent layers; prefork=False forks each child when its job arrives (benchmarks compare).
        self.prefork = bool(prefork)
        self._lock = threading.RLock()
        self._box: list[_Proc | None] = [None]
        self._killed = False  # set by `kill`: no worker is started again
        self._finalizer = weakref.finalize(self, _stop_box, self._box)
        tracked = getattr(_tracking, "current", None)
        if tracked is not None:
            tracked.add(self)

    # ---- lifecycle ------------------------------------------------------------------------------
    def start(self, wait: bool = False) -> None:
        """Start the worker if it is not running; return at once unless `wait` (then until it is ready).

        Raises EvaluatorError when the worker cannot be started (or, with `wait`, never becomes ready).
        """
        with self._lock:
            try:
                self._spawn()
                if wait:
                    ready = self._ready().ready or {}
                    missing = ready.get("missing_layers") or []
                    if self.require_isolation and missing:
                        from tutor.sandbox.layers import isolation_refusal

                        raise EvaluatorError(isolation_refusal([str(m) for m in missing]))
            except (_WorkerGone, _WorkerHung) as exc:
                raise EvaluatorError(str(exc)) from None

    def _spawn(self) -> _Proc:
        if self._killed:
            raise _WorkerGone(STOPPED)
        proc = self._box[0]
        if proc is not None and proc.popen.poll() is not None:
            _stop_box(self._box)
            proc = None
        if proc is None:
            try:
                proc = self._box[0] = _Proc(self.preload, self.max_parallel, self.stderr,
                                            self.disable_layers, self.require_isolation, self.prefork)
            except OSError as exc:
                raise _WorkerGone(f"the evaluator worker could not be started ({exc})") from None
            if self._killed:  # `kill` ran while this worker was being made: it must not outlive it
                proc.kill()
                _stop_box(self._box, grace=KILL_REAP, block=False)
                raise _WorkerGone(STOPPED)
        return proc

    def _ready(self) -> _Proc:
        proc = self._spawn()
        try:
            proc.wait_ready(self.start_timeout)
        except (_WorkerGone, _WorkerHung):
            _stop_box(self._box)
            if self._killed:
                raise _WorkerGone(STOPPED) from None
            raise
        return proc

    def close(self) -> None:
        """Stop the worker (also at exit and on leaving a `with` block)."""
        with self._lock:
            _stop_box(self._box)

    def kill(self) -> None:
        """Stop the worker at once and for good, from any thread, starting or busy: its process group
        is killed (its children, each in a session of its own, die with it: the die-with-parent
        layer), and it is reaped here only when no other thread is using
        it and it is gone within KILL_REAP; otherwise the thread using it reaps it as it sees the pipe
        close. Later runs fail with STOPPED, and `start` raises EvaluatorError."""
        self._killed = True
        proc = self._box[0]
        if proc is not None:
            proc.kill()
        if self._lock.acquire(blocking=False):
            try:
                _stop_box(self._box, grace=KILL_REAP, block=False)
            finally:
                self._lock.release()

    @property
    def killed(self) -> bool:
        return self._killed

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The worker's process id, or None when it is not running."""
        proc = self._box[0]
        return proc.pid if proc is not None else None

    # ---- requests -------------------------------------------------------------------------------
    def _request(self, obj: dict, timeout: float) -> tuple[_Proc, dict]:
        proc = self._ready()
        proc.send(obj)
        return proc, proc.recv_json(_now() + timeout)

    def info(self) -> dict:
        """The worker's info: pid, layers, numpy/torch versions (torch None when not loaded)."""
        with self._lock:
            for attempt in (0, 1):
                try:
                    return self._request({"op": "info"}, REPLY_SLACK)[1]
                except (_WorkerGone, _WorkerHung) as exc:
                    _stop_box(self._box)
                    if attempt:
                        raise EvaluatorError(str(exc)) from None
        raise AssertionError("unreachable")

    def layers(self) -> list[str]:
        """The isolation layers the worker applies to each run on this host."""
        layers = self.info().get("layers")
        return [x for x in layers if isinstance(x, str)] if isinstance(layers, list) else []

    def run(self, jobs: Sequence[Job | dict], on_output: Callable[[int, str], None] | None = None) -> list[JobOutcome]:
        """Run the jobs (in parallel in the worker); one outcome per job, in order. A job is a `Job` or
        its JSON object (the worker checks both the same way: `Job.from_wire`). For jobs marked
        ``stream``, `on_output(index, text)` gets their output, whole lines, while they run (called in
        this thread; what it raises is ignored)."""
        jobs = [to_wire(j) for j in jobs]
        if not jobs:
            return []
        budget = REPLY_SLACK + sum(_job_timeout(j) for j in jobs)
        with self._lock:
            for attempt in (0, 1):
                try:
                    deadline = _now() + budget
                    proc = self._ready()
                    proc.send({"op": "run", "jobs": jobs})
                    head = proc.recv_json(deadline)
                    while "output" in head and "results" not in head:
                        _deliver(on_output, head["output"], len(jobs))
                        head = proc.recv_json(deadline)
                    replies = head.get("results")
                    if not isinstance(replies, list) or len(replies) != len(jobs):
                        raise _WorkerGone(f"the evaluator worker answered badly: {str(head.get('error', head))[:200]}")
                    blobs = [proc.recv(deadline) for _ in jobs]
                    return [outcome_from(j, r, b) for j, r, b in zip(jobs, replies, blobs)]
                except _WorkerGone as exc:
                    _stop_box(self._box)
                    if attempt:
                        return [_failed(j, str(exc)) for j in jobs]
                except _WorkerHung as exc:
                    _stop_box(self._box)
                    return [_failed(j, str(exc)) for j in jobs]
        raise AssertionError("unreachable")


def _deliver(on_output: Callable[[int, str], None] | None, frame: Any, n: int) -> None:
    """Hand one output frame to the caller's callback, if it is well formed."""
    if on_output is None or not isinstance(frame, dict):
        return
    index, text = frame.get("job"), frame.get("text")
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < n and isinstance(text, str) and text:
        try:
            on_output(index, wire.clean_output(text))
        except Exception:  # noqa: BLE001 - the caller's display must not break the protocol
            pass


def _job_timeout(job: Any) -> float:
    t = job.get("timeout", 5.0) if isinstance(job, dict) else 5.0
    return float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t < 1e6 else 5.0


def _failed(job: Any, why: str) -> JobOutcome:
    return JobOutcome(job.get("id") if isinstance(job, dict) else None, "crashed", error=why)
