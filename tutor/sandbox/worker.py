"""The evaluator worker: imports numpy (and torch) once, then forks one isolated child per job.

Started by `client.Evaluator` as ``python -P -c <bootstrap>`` (with PYTHONHASHSEED=0 in its minimal environment); speaks length-prefixed frames (4-byte
big-endian length + payload) on stdin/stdout and writes nothing else to stdout (its own prints and
warnings go to stderr). Requests are JSON:

- ``{"op": "run", "jobs": [job, ...]}`` -> one JSON frame ``{"results": [reply, ...]}`` then one
  binary frame per job with the child's result blob, relayed untouched (possibly empty); before
  them, for jobs with ``"stream": true``, frames ``{"output": {"job": index, "text": ...}}`` with
  the run's output so far (whole lines, cleaned), so a long run shows progress while it trains;
- ``{"op": "ping"}`` -> ``{"ok": true}``; ``{"op": "info"}`` -> layers, versions, pid;
- ``{"op": "exit"}`` -> ``{"ok": true}``, then the worker exits. EOF on stdin also ends it.

Right after start it sends one ``{"ready": true, ...info}`` frame, once the imports and warm-up are done.
Its info names the isolation layers it applies ("layers") and those this host lacks ("missing_layers").
Before importing numpy or torch it probes and prepares the layers once (the namespace probe forks; the
Landlock ruleset and the seccomp BPF are built here and only applied in each child). With
``require_isolation`` it refuses every job, with one sentence, while a layer is missing; ``disabled``
names layers to treat as missing (how tests simulate a degraded host).

Per job (docs/sandbox.md): a shared page for the marker, a pipe for stdout+stderr (capped at
OUTPUT_CAP, read and discarded past it so the child never blocks), a pipe for the result (past
RESULT_CAP the child is killed: "oversize"), fork; the child applies the layers, seeds, runs
`runtime.execute`, writes `wire.encode(...)` and `_exit(0)`s. At most `max_parallel` children run at
once; at a job's deadline its whole process group is killed ("timeout"). Every child is reaped.

Decisions where the contract is silent:
- A job that cannot be set up (a missing data file or column, torch asked for but not loaded, a
  malformed job) is not forked: its reply has status "ok" and a blob whose header is
  ``{"status": "error", "error": {"type": "SandboxError", ...}}``, plus a "detail" sentence.
- A child that finds a second thread of its own before the per-thread layers go on (something in
  the pre-fork warm-up started one) refuses its job the same way, the program never run
  (`layers.ThreadsNotIsolated`: "the sandbox could not isolate every thread of the run: ...").
- Every reply also has "detail": "" or one sentence on why the run ended as it did (a layer that
  could not be applied, a signal, the child's own machinery failing).
- An error the OS layers caused (PermissionError, EPERM/EACCES/ENOSYS words) gets DENIED_SENTENCE in
  front of the system's message, and "sandbox": true, so the learner reads why (explain_denial).
"""

from __future__ import annotations

import collections
import errno
import gc
import json
import math
import mmap
import os
import random
import select
import selectors
import signal
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from tutor.sandbox import layers, wire

OUTPUT_CAP = 64 * 1024
STREAM_EVERY = 0.1  # seconds between two output frames of one streamed run
IDLE_BEFORE_PREFORK = 0.05  # seconds without a request before the worker pre-forks
POOL_SIZE = 2  # pre-forked children at most (a grade runs two jobs at once; more would only hold memory)
DEFER_POLL = 0.005  # seconds between two looks at the marker of a job that another job waits on
SKIPPED = "not needed: the run it waited on ended with every check agreeing"
RESULT_CAP = wire.MAX_BYTES
FRAME_MAX = wire.MAX_BYTES + 16 * 1024 * 1024
DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 3600.0
DEFAULT_MEMORY_MB = 1024
MIN_MEMORY_MB = 16
CSV_CACHE_FILES = 32

TORCH_NAMES = ("torch", "nn", "optim", "F")

WARM_NUMPY = """
a = np.linspace(0.0, 1.0, 12).reshape(3, 4)
b = np.array([1, 2, 3]).astype(float)
for x in (a, b, np.float64(1.5), np.float32(2.5), np.int64(3), a > 0.5, a.astype(np.float32)):
    str(x); repr(x); format(x) if np.ndim(x) == 0 else None
for f in (np.sum, np.mean, np.std, np.var, np.max, np.min, np.any, np.all, np.argmax, np.argmin,
          np.prod, np.cumsum, np.median, np.ptp, np.average):
    f(a); f(a, axis=0)
a.sum(); a.mean(axis=1); a.std(); a.var(); a.max(); a.min(); a.any(); a.all(); a.round(2); a.clip(0, 1)
np.isnan(a).any(); np.isfinite(a).all(); np.allclose(a, a); np.isclose(a, a); np.array_equal(a, a)
np.linalg.inv(np.eye(2)); np.linalg.solve(np.eye(2), np.ones(2)); np.linalg.norm(a); np.linalg.lstsq(a, np.ones(3), rcond=None)
np.concatenate([b, b]); np.stack([b, b]); np.vstack([b, b]); np.hstack([b, b]); np.column_stack([b, b])
np.where(b > 1, b, 0); np.unique(b); np.sort(b); np.argsort(b); np.percentile(b, 50); np.quantile(b, 0.5)
np.exp(b); np.log(b); np.sqrt(b); np.tanh(b); np.abs(b); np.maximum(b, 0); np.dot(b, b); b @ b; np.outer(b, b)
np.random.seed(0); np.random.rand(3); np.random.randn(3); np.random.permutation(3); np.random.shuffle(b)
np.random.normal(size=3); np.random.uniform(size=3); np.random.choice(3, 2); np.random.randint(0, 3, 2)
rng = np.random.default_rng(0); rng.normal(size=3); rng.uniform(size=3); rng.permutation(3); rng.integers(0, 3, 2)
np.set_printoptions(precision=8); np.array2string(a); np.zeros(2).tofile(devnull); np.savetxt(devnull, a)
"""

WARM_TORCH = """
t = torch.linspace(0, 1, 6).reshape(2, 3)
for x in (t, t.double(), t > 0.5, torch.tensor(1.5), torch.tensor([1, 2]), t.requires_grad_()):
    str(x); repr(x)
t = t.detach()
t.sum(); t.mean(dim=0); t.std(); t.var(); t.max(); t.argmax(); t.abs().clamp(0, 1); t.tolist()
torch.cat([t, t]); torch.stack([t, t]); torch.where(t > 0.5, t, t * 0); torch.allclose(t, t); torch.isnan(t).any()
torch.from_numpy(np.ones(3)); t.numpy(); torch.tensor(np.ones(3), dtype=torch.float32); torch.zeros(2).float().double()
torch.manual_seed(0); torch.rand(3); torch.randn(3); torch.randperm(3); torch.randint(0, 3, (2,)); torch.get_rng_state()
"""

# Exit codes of the child's own machinery (the program itself cannot choose an exit code: it has no
# sys, no os, and runtime.execute turns whatever it raises into a result).
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


# ---- frames -------------------------------------------------------------------------------------


def read_exact(fd: int, n: int) -> bytes | None:
    """n bytes from fd, or None at end of file."""
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, limit: int = FRAME_MAX) -> bytes | None:
    head = read_exact(fd, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">I", head)
    if size > limit:
        raise ValueError(f"a frame of {size} bytes is over the {limit}-byte limit")
    if size == 0:
        return b""
    return read_exact(fd, size)


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_frame(fd: int, payload: bytes) -> None:
    head = struct.pack(">I", len(payload))
    if len(payload) < 65536:
        write_all(fd, head + payload)
    else:
        write_all(fd, head)
        write_all(fd, payload)


def json_frame(fd: int, obj: Any) -> None:
    write_frame(fd, json.dumps(obj, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii"))


# ---- the marker ---------------------------------------------------------------------------------


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


# ---- helpers ------------------------------------------------------------------------------------


def vm_size_bytes() -> int:
    """This process's virtual size (the base for the child's RLIMIT_AS)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[0]) * mmap.PAGESIZE
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 * 4


def default_parallel() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def classify(killed_for: str | None, wait_status: int) -> tuple[str, int | None, int | None, str]:
    """(status, exit code, signal, detail) of a reaped child."""
    if killed_for == "skipped":
        return "skipped", None, None, SKIPPED
    if os.WIFSIGNALED(wait_status):
        sig = os.WTERMSIG(wait_status)
        if killed_for == "timeout":
            return "timeout", None, sig, "the run went past its time limit"
        if killed_for == "oversize":
            return "oversize", None, sig, f"the run's result was larger than {RESULT_CAP // (1024 * 1024)} MiB"
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
    detail = layers.reason_for_exit(code) or EXIT_REASONS.get(code) or f"the run exited with code {code}"
    return "crashed", code, None, detail


_DENIED_WORDS = ("Operation not permitted", "Permission denied", "Function not implemented", "Read-only file system",
                 "Network is unreachable")
DENIED_SENTENCE = ("the sandbox does not allow this: lesson programs cannot start programs or processes, "
                   "touch files, or use the network")


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


def _after(jobs: list[Any], i: int) -> tuple[int, float] | None:
    """(job index, seconds) of job i's well-formed "after", else None. It may only name another job
    of the request that waits on nothing itself."""
    spec = jobs[i].get("after") if isinstance(jobs[i], dict) else None
    if not isinstance(spec, dict):
        return None
    k, secs = spec.get("job"), spec.get("seconds", 0.0)
    if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < len(jobs) or k == i:
        return None
    if not isinstance(jobs[k], dict) or "after" in jobs[k]:
        return None
    if not isinstance(secs, (int, float)) or isinstance(secs, bool) or not 0 <= secs < 1e6:
        secs = 0.0
    return k, float(secs)


def _kill_group(pid: int) -> None:
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


def _error_blob(message: str) -> bytes:
    return wire.encode({"status": "error", "error": {"type": "SandboxError", "message": message}, "setup": True}, [])


def _layer_failed(exc: layers.LayerFailed) -> int:
    """In the child: say which layer failed (on its stderr, the capture pipe) and pick the exit code."""
    try:
        os.write(2, f"tutor sandbox: {exc}\n".encode("utf-8", "replace"))
    except OSError:
        pass
    return layers.EXIT_LAYER_BASE + exc.index


class SetupError(Exception):
    """A job cannot be prepared; the message is the sentence the learner or instructor sees."""


@dataclass
class _Child:
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


@dataclass
class _Idle:
    """A pre-forked child: its job-independent layers applied, blocked reading its job from `job_fd`."""

    pid: int
    job_fd: int
    out_fd: int
    res_fd: int
    pidfd: int | None
    marker: Marker


# ---- the worker ---------------------------------------------------------------------------------


class Worker:
    def __init__(self, preload: Sequence[str] = ("numpy",), max_parallel: int | None = None,
                 disabled: Sequence[str] = (), require_isolation: bool = False, prefork: bool = True) -> None:
        layers.disable(disabled)
        # Probed and prepared here, once, before numpy and torch start any thread (the namespace probe
        # forks), so children only apply them.
        self.layers = layers.active_layers()
        self.keep_fds = layers.prepared_fds()
        self.require_isolation = require_isolation
        self.max_parallel = max(1, int(max_parallel)) if max_parallel else default_parallel()
        # Pre-forked children (as many as run at once), made while the worker waits for a request, so an
        # answer does not wait for fork and the job-independent layers (see `refill`).
        self.prefork = bool(prefork)
        self.pool_size = min(POOL_SIZE, self.max_parallel) if prefork else 0
        self._idle: list[_Idle] = []
        self._next_seed = 0  # what pre-forked children seed their generators with while they wait
        self._dying: list[int] = []  # children that sent their result and were killed, not yet reaped
        self._pre_layers = layers.job_independent_count()
        self.torch_error: str | None = None
        self._csv: dict[str, tuple[tuple[int, int], dict[str, Any]]] = {}
        import numpy

        self.np = numpy
        self.torch: Any = None
        self.modules: dict[str, Any] = {"np": numpy}
        if "torch" in preload:
            try:
                self._load_torch()
            except Exception as exc:  # noqa: BLE001 - run numpy jobs anyway and say why torch is missing
                self.torch = None
                self.torch_error = f"{type(exc).__name__}: {exc}"
                print(f"tutor worker: torch is not available: {self.torch_error}", file=sys.stderr)
        from tutor.sandbox import runtime

        self.runtime = runtime
        self._warm_numpy()
        gc.collect()
        gc.freeze()  # children do not copy the pages of everything imported so far when gc runs

    def _load_torch(self) -> None:
        import torch

        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already started by some import: harmless for a single-threaded worker
            pass
        import torch.nn.functional as F
        from torch import nn, optim

        self._warm_torch(torch, nn, optim, F)
        self.torch = torch
        self.modules.update({"torch": torch, "nn": nn, "optim": optim, "F": F})

    @staticmethod
    def _warm_torch(torch: Any, nn: Any, optim: Any, F: Any) -> None:
        """Pay torch's lazy initialisation once here, not in every child (the first step costs ~1 s)."""
        torch.manual_seed(0)
        x = torch.linspace(0, 1, 16).reshape(-1, 1)
        y = 3 * x + 2
        model = nn.Linear(1, 1)
        loss_fn = nn.MSELoss()
        for opt in (optim.SGD(model.parameters(), lr=0.1), optim.Adam(model.parameters(), lr=0.01)):
            for _ in range(2):
                opt.zero_grad()
                loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()
        seq = nn.Sequential(nn.Linear(1, 4), nn.ReLU(), nn.Linear(4, 1), nn.Sigmoid())
        out = F.binary_cross_entropy(seq(x), torch.rand(16, 1))
        out = out + F.mse_loss(seq(x), y) + F.cross_entropy(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]))
        out.backward()
        with torch.no_grad():
            model.weight -= 0.1 * model.weight.grad
            model(x).numpy()
        torch.tensor([1.0]).item()
        torch.from_numpy(x.numpy()).double().to("cpu")
        torch.get_rng_state()

    def _warm_numpy(self) -> None:
        """Import numpy's lazily loaded pieces once here (reductions, printing, random), so children do
        not pay for it, and so C-level lazy imports do not run under the program's restricted builtins."""
        np = self.np
        exec(WARM_NUMPY, {"np": np, "devnull": os.devnull})
        if self.torch is not None:
            exec(WARM_TORCH, {"torch": self.torch, "np": np})
        wire.encode({"status": "ok"}, [np.zeros(3)])
        self.runtime.execute({"source": "z = np.mean(np.ones(3))", "names": ["np"]}, self.modules, {}, Marker())

    def info(self) -> dict:
        return {
            "pid": os.getpid(),
            "layers": self.layers,
            "missing_layers": layers.missing_layers(self.layers),
            "layer_details": layers.layer_details(),
            "numpy": self.np.__version__,
            "torch": getattr(self.torch, "__version__", None),
            "torch_error": self.torch_error,
            "python": sys.version.split()[0],
            "max_parallel": self.max_parallel,
            "prefork": self.pool_size,
            "idle": [i.pid for i in self._idle],  # the pre-forked children waiting for a job now
        }

    # ---- jobs -----------------------------------------------------------------------------------
    def _csv_columns(self, path: str) -> dict[str, Any]:
        np = self.np
        try:
            st = os.stat(path)
            key = (st.st_mtime_ns, st.st_size)
            cached = self._csv.get(path)
            if cached is not None and cached[0] == key:
                return cached[1]
            with open(path, encoding="utf-8") as f:
                names = [c.strip() for c in f.readline().strip().split(",")]
            table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise SetupError(f"the data file {path} could not be read ({type(exc).__name__}: {exc})") from None
        if table.size and table.shape[1] != len(names):
            raise SetupError(f"the data file {path} has {len(names)} column names but {table.shape[1]} values a row")
        columns = {name: np.ascontiguousarray(table[:, i]) if table.size else np.zeros(0) for i, name in enumerate(names)}
        if len(self._csv) >= CSV_CACHE_FILES:
            self._csv.pop(next(iter(self._csv)))
        self._csv[path] = (key, columns)
        return columns

    def _csv_table(self, path: str, names: list[Any]) -> Any:
        """The named columns of a CSV file side by side: a (rows, len(names)) float64 array."""
        columns = self._csv_columns(path)
        missing = [n for n in names if not isinstance(n, str) or n not in columns]
        if missing or not names:
            raise SetupError(f"the data file {path} has no column `{missing[0] if missing else ''}`")
        return self.np.ascontiguousarray(self.np.column_stack([columns[n] for n in names]))

    def prepare(self, job: Any) -> tuple[dict, dict[str, Any]]:
        """(job with defaults, data arrays) or SetupError."""
        if not isinstance(job, dict) or not isinstance(job.get("source"), str):
            raise SetupError("the job has no program source")
        missing = layers.missing_layers(self.layers)
        if self.require_isolation and missing:
            raise SetupError(layers.isolation_refusal(missing))
        job = dict(job)
        timeout = job.get("timeout", DEFAULT_TIMEOUT)
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not math.isfinite(timeout) or timeout <= 0:
            raise SetupError(f"the job's time limit {timeout!r} is not a positive number of seconds")
        job["timeout"] = min(float(timeout), MAX_TIMEOUT)
        memory = job.get("memory_mb", DEFAULT_MEMORY_MB)
        if not isinstance(memory, int) or isinstance(memory, bool) or memory < MIN_MEMORY_MB:
            raise SetupError(f"the job's memory limit {memory!r} is not a whole number of MiB of at least {MIN_MEMORY_MB}")
        seed = job.get("seed", 0)
        if seed is None:
            seed = 0
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
            raise SetupError(f"the job's seed {seed!r} is not a whole number from 0 to 2**32 - 1")
        job["seed"] = seed
        self._next_seed = seed
        names = job.get("names") or []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise SetupError("the job's names are not a list of strings")
        missing = [n for n in names if n not in self.modules]
        if missing:
            if self.torch is None and any(n in TORCH_NAMES for n in missing):
                why = f" ({self.torch_error})" if self.torch_error else " (it was started without torch)"
                raise SetupError(f"this program needs torch for `{missing[0]}`, but the evaluator has no torch{why}")
            raise SetupError(f"the program asks for `{missing[0]}`, which the evaluator does not provide")
        data: dict[str, Any] = {}
        spec = job.get("data") or {}
        if not isinstance(spec, dict):
            raise SetupError("the job's data is not a mapping of variable names")
        for var, src in spec.items():
            if isinstance(src, dict) and isinstance(src.get("csv"), str) and isinstance(src.get("columns"), list):
                data[str(var)] = self._csv_table(src["csv"], src["columns"])  # a 2-D array, one column per name
                continue
            if not (isinstance(src, dict) and isinstance(src.get("csv"), str) and isinstance(src.get("column"), str)):
                raise SetupError(f"the data for `{var}` does not name a CSV file and column")
            columns = self._csv_columns(src["csv"])
            if src["column"] not in columns:
                raise SetupError(f"the data file {src['csv']} has no column `{src['column']}`")
            data[str(var)] = columns[src["column"]]
        return job, data

    def run(self, jobs: list[Any], emit: Any = None) -> list[tuple[dict, bytes]]:
        """Run the jobs, at most max_parallel at once; (reply, blob) per job, in order. For a job with
        ``"stream": true``, `emit` gets ``{"output": {"job": index, "text": ...}}`` while it runs:
        whole lines of its output (cleaned, within the output cap), at most every STREAM_EVERY s."""
        results: list[tuple[dict, bytes] | None] = [None] * len(jobs)
        pending: collections.deque[tuple[int, dict, dict]] = collections.deque()
        # A job with "after": {"job": k, "seconds": s} waits: it starts once job k's checks ask for it
        # (NEED in k's marker), once k ends without CLEAN, or s seconds into k's run; it is skipped when k
        # ends CLEAN (and killed then, if it had started on the clock).
        deferred: dict[int, tuple[dict, dict, int, float]] = {}
        waits_on: dict[int, int] = {}  # started deferred job -> the job it waited on
        clean: dict[int, bool] = {}  # finished job -> ended CLEAN
        for i, job in enumerate(jobs):
            job_id = job.get("id") if isinstance(job, dict) else None
            try:
                prepared, data = self.prepare(job)
            except SetupError as exc:
                msg = str(exc)
                results[i] = (self._reply(job_id, "ok", None, None, None, "", False, 0.0, msg), _error_blob(msg))
                continue
            after = _after(jobs, i)
            if after is not None:
                deferred[i] = (prepared, data, *after)
            else:
                pending.append((i, prepared, data))
        running: dict[int, _Child] = {}
        sel = selectors.DefaultSelector()
        try:
            while pending or running or deferred:
                now = time.monotonic()
                for i, (job, data, k, secs) in list(deferred.items()):
                    waited = next((c for c in running.values() if c.index == k), None)
                    if results[k] is not None:
                        del deferred[i]
                        if clean.get(k):
                            results[i] = (self._reply(job.get("id"), "skipped", None, None, None, "", False, 0.0, SKIPPED), b"")
                        else:
                            pending.append((i, job, data))
                            waits_on[i] = k
                    elif waited is not None and (waited.marker.view[1] == self.runtime.NEED or now - waited.start >= secs):
                        del deferred[i]
                        pending.append((i, job, data))
                        waits_on[i] = k
                while pending and len(running) < self.max_parallel:
                    i, job, data = pending.popleft()
                    try:
                        child = self._spawn(i, job, data, running, sel)
                    except OSError as exc:
                        msg = f"the run could not be started ({exc.strerror or exc})"
                        results[i] = (self._reply(job.get("id"), "crashed", None, None, None, "", False, 0.0, msg), b"")
                        continue
                    child.stream = emit is not None and job.get("stream") is True
                    running[child.pid] = child
                if not running:
                    continue
                live = [c.deadline for c in running.values() if c.killed_for is None]
                wait = max(0.0, min(live) - time.monotonic()) if live else 0.05
                if deferred:
                    wait = min(wait, DEFER_POLL)
                if any(c.pidfd is None for c in running.values()):
                    wait = min(wait, 0.005)
                if any(c.stream and len(c.out) > c.streamed for c in running.values()):
                    wait = min(wait, STREAM_EVERY)
                for key, _ in sel.select(min(wait, 1.0)):
                    self._on_ready(key.data, key.fd, sel)
                now = time.monotonic()
                for child in running.values():
                    if child.stream and now - child.last_emit >= STREAM_EVERY:
                        self._stream(child, emit, now)
                for child in list(running.values()):
                    if child.killed_for is None and now >= child.deadline:
                        child.killed_for = "timeout"
                        _kill_group(child.pid)
                    if not child.exited and child.pidfd is None:
                        child.exited = self._has_exited(child.pid)
                    if child.exited:
                        del running[child.pid]
                        clean[child.index] = child.killed_for is None and child.marker.view[1] == self.runtime.CLEAN
                        results[child.index] = self._finish(child, sel)
                        if clean[child.index]:
                            for other in running.values():  # started on the clock, not needed after all
                                if waits_on.get(other.index) == child.index and other.killed_for is None:
                                    _kill_group(other.pid)
                                    other.killed_for = "skipped"
                                    other.done = other.exited = True  # reply now, reap later
        finally:
            for child in running.values():  # only after an error in the loop itself: leave nothing behind
                _kill_group(child.pid)
                try:
                    os.waitpid(child.pid, 0)
                except ChildProcessError:
                    pass
                self._close_child(child, sel)
            sel.close()
        return [r if r is not None else ({}, b"") for r in results]

    @staticmethod
    def _stream(child: _Child, emit: Any, now: float) -> None:
        """Send the child's new whole lines of output (a line's bytes never end inside a character)."""
        end = child.out.rfind(b"\n", child.streamed)
        if end < 0:
            return
        chunk = bytes(child.out[child.streamed : end + 1])
        child.streamed = end + 1
        child.last_emit = now
        emit({"output": {"job": child.index, "text": wire.clean_output(chunk.decode("utf-8", "replace"))}})

    @staticmethod
    def _has_exited(pid: int) -> bool:
        try:
            return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def _spawn(self, index: int, job: dict, data: dict, running: dict[int, _Child], sel: selectors.BaseSelector) -> _Child:
        """A child running `job`: a pre-forked one when one is waiting, else a new fork."""
        idle = self._take_idle()
        start = time.monotonic()
        if idle is not None:
            try:
                write_frame(idle.job_fd, json.dumps(job, allow_nan=False, separators=(",", ":")).encode("utf-8"))
                os.close(idle.job_fd)
                idle.job_fd = -1
            except (OSError, ValueError, TypeError):
                self._discard(idle)
                idle = None
        if idle is not None:
            pid, out_r, res_r, pidfd, marker = idle.pid, idle.out_fd, idle.res_fd, idle.pidfd, idle.marker
        else:
            start = time.monotonic()
            pid, out_r, res_r, pidfd, marker, _ = self._fork([c.marker for c in running.values()], job, data)
        child = _Child(index, job.get("id"), pid, out_r, res_r, pidfd, marker, start, start + job["timeout"])
        sel.register(out_r, selectors.EVENT_READ, child)
        sel.register(res_r, selectors.EVENT_READ, child)
        if pidfd is not None:
            sel.register(pidfd, selectors.EVENT_READ, child)
        return child

    def _fork(self, others: list[Marker], job: dict | None, data: dict | None) -> tuple[int, int, int, int | None, Marker, int | None]:
        """Fork a child that runs `job`, or, with job None, a pre-forked child that waits for its job on
        a pipe. (pid, output fd, result fd, pidfd, marker, the job pipe's write end or None)."""
        marker = Marker()
        out_r, out_w = os.pipe()
        res_r, res_w = os.pipe()
        job_r, job_w = os.pipe() if job is None else (None, None)
        ctx = layers.Context(
            worker_pid=os.getpid(),
            capture_fd=out_w,
            result_fd=res_w,
            timeout=job["timeout"] if job is not None else DEFAULT_TIMEOUT,
            memory_mb=job.get("memory_mb", DEFAULT_MEMORY_MB) if job is not None else DEFAULT_MEMORY_MB,
            base_vm_bytes=vm_size_bytes(),
            output_cap=OUTPUT_CAP,
            keep_fds=self.keep_fds,
        )
        others = others + [i.marker for i in self._idle]
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
            code = EXIT_UNEXPECTED
            try:
                for other in others:
                    other.close()
                if job is None:
                    os.close(job_w)
                    code = self._pooled_child(job_r, marker, ctx)
                else:
                    code = self._child(job, data or {}, marker, ctx)
            finally:
                os._exit(code)
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
        return pid, out_r, res_r, pidfd, marker, job_w

    # ---- the pool of pre-forked children --------------------------------------------------------
    def refill(self, busy: Any = None) -> None:
        """Pre-fork children until `max_parallel` wait for a job, stopping early when `busy()` says a
        request has arrived (it is served first; the pool fills again after it)."""
        if self.require_isolation and layers.missing_layers(self.layers):
            self.pool_size = 0
            return  # every job is refused: nothing will run
        self.reap_dying(block=False)
        while self.pool_short:
            if busy is not None and busy():
                return
            try:
                pid, out_r, res_r, pidfd, marker, job_w = self._fork([], None, None)
            except OSError:
                return
            self._idle.append(_Idle(pid, job_w, out_r, res_r, pidfd, marker))

    def reap_dying(self, block: bool = True) -> None:
        """Reap the children that replied early (see DONE); with block, wait for each to be gone."""
        left = []
        for pid in self._dying:
            try:
                done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
            except ChildProcessError:
                continue
            if not done:
                left.append(pid)
        self._dying = left

    @property
    def pool_short(self) -> bool:
        """Fewer pre-forked children wait than the pool holds."""
        return len(self._idle) < self.pool_size

    def _take_idle(self) -> _Idle | None:
        while self._idle:
            idle = self._idle.pop(0)
            if not self._has_exited(idle.pid):
                return idle
            self._discard(idle)  # it failed a layer, or was killed, while it waited
        return None

    def _discard(self, idle: _Idle) -> None:
        for fd in (idle.job_fd, idle.out_fd, idle.res_fd, idle.pidfd):
            if fd is not None and fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        _kill_group(idle.pid)
        try:
            os.waitpid(idle.pid, 0)
        except ChildProcessError:
            pass
        try:
            idle.marker.close()
        except (BufferError, ValueError):
            pass

    def close_pool(self) -> None:
        """End every pre-forked child and reap every child (the worker is exiting)."""
        while self._idle:
            self._discard(self._idle.pop())
        self.reap_dying()

    def _pooled_child(self, job_fd: int, marker: Marker, ctx: layers.Context) -> int:
        """Runs in a pre-forked child: the job-independent layers, then wait for the job, then the rest."""
        if job_fd <= layers.RESULT_FD:  # keep it clear of the descriptors the stdio layer puts in place
            import fcntl

            job_fd = fcntl.fcntl(job_fd, fcntl.F_DUPFD_CLOEXEC, 10)
        ctx.keep_fds = tuple(ctx.keep_fds) + (job_fd,)
        try:
            layers.apply_all(ctx, 0, self._pre_layers)
        except layers.LayerFailed as exc:
            return _layer_failed(exc)
        seeded: int | None = None
        try:
            # Touch numpy's (and torch's) common paths here, in the idle time: a forked child pays a
            # copy-on-write page fault the first time it writes to each page it shares with the worker.
            self._warm_numpy()
            seeded = self._next_seed  # most jobs reuse the last job's seed: seed now, not after the job comes
            self._seed(seeded)
        except BaseException:  # noqa: BLE001
            seeded = None
        try:
            payload = read_frame(job_fd)
        except (OSError, ValueError):
            return EXIT_UNEXPECTED
        if payload is None:
            return 0  # the pool was closed: no job will come
        os.close(job_fd)
        try:
            job, data = self.prepare(json.loads(payload))  # the worker prepared it already: cache hits here
        except SetupError as exc:
            try:
                write_all(ctx.result_fd, _error_blob(str(exc)))
                os.close(ctx.result_fd)
            except OSError:
                return EXIT_WRITE
            return 0
        except ValueError:
            return EXIT_UNEXPECTED
        ctx.timeout = job["timeout"]
        ctx.memory_mb = job["memory_mb"] if "memory_mb" in job else DEFAULT_MEMORY_MB
        return self._child(job, data, marker, ctx, first_layer=self._pre_layers, seeded=seeded)

    def _seed(self, seed: int) -> None:
        random.seed(seed)
        self.np.random.seed(seed)
        if self.torch is not None:
            self.torch.manual_seed(seed)

    def _child(self, job: dict, data: dict, marker: Marker, ctx: layers.Context, first_layer: int = 0,
               seeded: int | None = None) -> int:
        """Runs in the forked child, from layer `first_layer` on (the generators already seeded with
        `seeded`, if not None); returns the exit code (0 once the result is written)."""
        try:
            layers.apply_all(ctx, first_layer)
        except layers.ThreadsNotIsolated as exc:  # a thread would run outside a layer: refuse, never run
            try:
                write_all(ctx.result_fd, _error_blob(str(exc)))
                os.close(ctx.result_fd)
            except OSError:
                return EXIT_WRITE
            return 0
        except layers.LayerFailed as exc:
            return _layer_failed(exc)
        try:
            if job["seed"] != seeded:
                self._seed(job["seed"])
        except BaseException:  # noqa: BLE001
            return EXIT_SETUP
        try:
            header, arrays = self.runtime.execute(job, self.modules, data, marker, seal=True)
        except BaseException:  # noqa: BLE001 - runtime.execute promises not to raise
            return EXIT_RUNTIME
        if header.get("status") == "ok" and marker.view[1] != self.runtime.NEED:
            marker.view[1] = self.runtime.CLEAN  # a job waiting on this one is not needed
        explain_denial(header)
        try:
            blob = wire.encode(header, arrays)
        except BaseException as exc:  # noqa: BLE001 - e.g. a header nested too deep: say so instead
            try:
                message = f"the run's result could not be encoded ({type(exc).__name__}: {str(exc)[:200]})"
                blob = wire.encode({"status": "error", "error": {"type": "ResultError", "message": message}}, [])
            except BaseException:  # noqa: BLE001
                return EXIT_ENCODE
        try:
            write_all(ctx.result_fd, blob)
            marker.view[0] = DONE  # before the close: the worker may reply as soon as it sees the end
            os.close(ctx.result_fd)
        except BaseException:  # noqa: BLE001
            return EXIT_WRITE
        return 0

    def _on_ready(self, child: _Child, fd: int, sel: selectors.BaseSelector) -> None:
        if fd not in (child.out_fd, child.res_fd, child.pidfd) or child.exited and fd == child.pidfd:
            return  # closed earlier in the same batch of events
        if fd == child.pidfd:
            child.exited = True
            sel.unregister(fd)
            return
        self._read_some(child, fd, sel, drain=False)

    def _read_some(self, child: _Child, fd: int, sel: selectors.BaseSelector, drain: bool) -> None:
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
                sel.unregister(fd)
                os.close(fd)
                if fd == child.out_fd:
                    child.out_fd = None
                else:
                    child.res_fd = None
                    if child.killed_for is None and child.marker.view[0] == DONE:
                        child.done = child.exited = True
                return
            if fd == child.out_fd:
                room = OUTPUT_CAP - len(child.out)
                if room > 0:
                    child.out += chunk[:room]
                child.out_total += len(chunk)
            else:
                child.res += chunk
                if len(child.res) > RESULT_CAP:
                    child.res = bytearray()
                    if child.killed_for is None:
                        child.killed_for = "oversize"
                        _kill_group(child.pid)
                    sel.unregister(fd)
                    os.close(fd)
                    child.res_fd = None
                    return
            if not drain:
                return

    def _finish(self, child: _Child, sel: selectors.BaseSelector) -> tuple[dict, bytes]:
        # The child is a zombie now (pidfd readable or waitid said so), or it has sent its whole result
        # and is on its way out (done): either way its group id is still reserved, so killing the group
        # reaches anything it left behind and nothing else.
        _kill_group(child.pid)
        if child.done:
            # Tearing down a process the size of the worker takes longer than many runs: reply now
            # and reap it later (reap_dying).
            wait_status = 0
            self._dying.append(child.pid)
        else:
            _, wait_status = os.waitpid(child.pid, 0)
        wall = time.monotonic() - child.start
        for fd in (child.out_fd, child.res_fd):
            if fd is not None:
                self._read_some(child, fd, sel, drain=True)
        status, code, sig, detail = classify(child.killed_for, wait_status)
        marker = child.marker.get()
        blob = bytes(child.res) if status == "ok" else b""
        self._close_child(child, sel)
        text = wire.clean_output(bytes(child.out).decode("utf-8", "replace"))
        reply = self._reply(child.job_id, status, code, sig, marker, text, child.out_total > OUTPUT_CAP, wall, detail)
        return reply, blob

    @staticmethod
    def _close_child(child: _Child, sel: selectors.BaseSelector) -> None:
        for name in ("out_fd", "res_fd", "pidfd"):
            fd = getattr(child, name)
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
            setattr(child, name, None)
        try:
            child.marker.close()
        except (BufferError, ValueError):
            pass

    @staticmethod
    def _reply(job_id: Any, status: str, code: int | None, sig: int | None, marker: int | None,
               stdout: str, truncated: bool, wall: float, detail: str) -> dict:
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


def main(preload: Sequence[str] = ("numpy",), max_parallel: int | None = None,
         disabled: Sequence[str] = (), require_isolation: bool = False, prefork: bool = True) -> None:
    """The worker's loop: frames on stdin/stdout until EOF or {"op": "exit"}."""
    try:
        _serve(preload, max_parallel, disabled, require_isolation, prefork)
    finally:
        _remove_own_scratch()


def _remove_own_scratch() -> None:
    """Remove the empty scratch folder the client made for this worker, in case the client died."""
    try:
        cwd = os.getcwd()
        if os.path.basename(cwd).startswith("tutor-eval-"):
            os.chdir("/")
            os.chmod(cwd, 0o700)
            os.rmdir(cwd)
    except OSError:
        pass


def _request_waiting(timeout: float = 0.0) -> bool:
    """Has the client sent something that the worker has not read yet (waiting up to `timeout` s)?"""
    try:
        return bool(select.select([0], [], [], timeout)[0])
    except (OSError, ValueError):
        return True


def _serve(preload: Sequence[str], max_parallel: int | None, disabled: Sequence[str], require_isolation: bool,
           prefork: bool = True) -> None:
    frames_out = os.dup(1)
    os.set_inheritable(frames_out, False)
    os.dup2(2, 1)  # stray C-level writes to fd 1 go to stderr, never into the frame stream
    sys.stdout = sys.stderr
    worker = Worker(preload, max_parallel, disabled, require_isolation, prefork)
    json_frame(frames_out, {"ready": True, **worker.info()})
    try:
        _loop(worker, frames_out)
    finally:
        worker.close_pool()


def _loop(worker: Worker, frames_out: int) -> None:
    while True:
        # Pre-fork in the idle time between requests, but only once the client has gone quiet: a
        # client that sends request after request (`tutor check`, a grade's isolation runs) would
        # otherwise wait for forks it does not need.
        if worker.pool_short and not _request_waiting(IDLE_BEFORE_PREFORK):
            worker.refill(_request_waiting)
        try:
            payload = read_frame(0)
        except ValueError as exc:
            json_frame(frames_out, {"error": str(exc)})
            return
        if payload is None:
            return
        try:
            request = json.loads(payload)
            op = request.get("op") if isinstance(request, dict) else None
        except ValueError:
            request, op = None, None
        # Children of earlier requests that replied early are killed already; a run collects them as
        # they go, any other request waits until they are gone (what a caller then sees is settled).
        worker.reap_dying(block=op != "run")
        if op == "run" and isinstance(request.get("jobs"), list):
            done = worker.run(request["jobs"], emit=lambda obj: json_frame(frames_out, obj))
            json_frame(frames_out, {"results": [reply for reply, _ in done]})
            for _, blob in done:
                write_frame(frames_out, blob)
        elif op == "ping":
            json_frame(frames_out, {"ok": True})
        elif op == "info":
            json_frame(frames_out, worker.info())
        elif op == "exit":
            json_frame(frames_out, {"ok": True})
            return
        else:
            json_frame(frames_out, {"error": "unknown request: expected op run, ping, info or exit"})


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="The tutor's evaluator worker (speaks frames on stdin/stdout).")
    parser.add_argument("--preload", default="numpy,torch", help="comma-separated: numpy, torch")
    parser.add_argument("--max-parallel", type=int, default=None)
    parser.add_argument("--disable", default="", help="comma-separated layers to treat as missing (simulates a degraded host)")
    parser.add_argument("--require-isolation", action="store_true", help="refuse every job when a layer is missing")
    parser.add_argument("--no-prefork", action="store_true", help="fork each child when its job arrives")
    args = parser.parse_args()
    main([p for p in args.preload.split(",") if p], args.max_parallel,
         [d for d in args.disable.split(",") if d], args.require_isolation, not args.no_prefork)
