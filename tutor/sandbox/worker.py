"""The evaluator worker: imports numpy (and torch) once, then forks one isolated child per job.

Started by `client.Evaluator` as ``python -P -c <bootstrap>`` (with PYTHONHASHSEED=0 in its minimal environment); speaks length-prefixed frames (4-byte
big-endian length + payload) on stdin/stdout and writes nothing else to stdout (its own prints and
warnings go to stderr). Requests are JSON:

- ``{"op": "run", "jobs": [job, ...]}`` -> one JSON frame ``{"results": [reply, ...]}`` then one
  binary frame per job with the child's result blob, relayed untouched (possibly empty); before
  them, for jobs with ``"stream": true``, frames ``{"output": {"job": index, "text": ...}}`` with
  the run's output so far (whole lines, cleaned), so a long run shows progress while it trains;
- ``{"op": "info"}`` -> layers, versions, pid;
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

This module is the loop and the warm process; the rest lives in one module per job: `framing`
(frames), `jobs` (the job format, checked once in `Worker.load`), `scheduler` (one request's jobs,
"after" included), `pool` (forking, the pre-forked children), `child` (what runs in a child).

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

import gc
import json
import os
import select
import sys
from typing import Any, Callable, Sequence

from tutor.sandbox import framing, layers, wire
from tutor.sandbox.child import DENIED_SENTENCE, DONE, OUTPUT_CAP, RESULT_CAP, Marker, explain_denial, seed_all
from tutor.sandbox.framing import FRAME_MAX
from tutor.sandbox.jobs import DataSource, Job, JobError, check_source
from tutor.sandbox.pool import POOL_SIZE, Pool, vm_size_bytes
from tutor.sandbox.scheduler import SKIPPED, Request, classify

# Names that tests, benchmarks and older callers import from here; each lives in the module named above.
__all__ = ["DENIED_SENTENCE", "DONE", "FRAME_MAX", "OUTPUT_CAP", "POOL_SIZE", "RESULT_CAP", "SKIPPED", "Marker",
           "Worker", "classify", "explain_denial", "main", "vm_size_bytes"]

IDLE_BEFORE_PREFORK = 0.05  # seconds without a request before the worker pre-forks
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


def default_parallel() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class Worker:
    """The warm process: the layers prepared, numpy (and torch) imported and warmed up once, the jobs
    loaded here and run in children (scheduler.Request) that the pool forks."""

    def __init__(self, preload: Sequence[str] = ("numpy",), max_parallel: int | None = None,
                 disabled: Sequence[str] = (), require_isolation: bool = False, prefork: bool = True) -> None:
        layers.disable(disabled)
        # Probed and prepared here, once, before numpy and torch start any thread (the namespace probe
        # forks), so children only apply them.
        self.layers = layers.active_layers()
        self.keep_fds = layers.prepared_fds()
        self.require_isolation = require_isolation
        self.max_parallel = max(1, int(max_parallel)) if max_parallel else default_parallel()
        # Pre-forked children, made while the worker waits for a request, so an answer does not wait
        # for fork and the job-independent layers (see `refill`).
        self.prefork = bool(prefork)
        self.pool = Pool(self, min(POOL_SIZE, self.max_parallel) if prefork else 0, self.keep_fds)
        self.next_seed = 0  # what pre-forked children seed their generators with while they wait
        self.pre_layers = layers.job_independent_count()
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
        self.warm_child()

    def warm_child(self) -> None:
        """What a pre-forked child runs while it waits for its job: the paths every job takes (the
        runtime running a program, a result's encoding), so that their copy-on-write page faults fall
        in the idle time. Only those: the whole warm-up above, re-run in every child, copied some 1000
        pages more (~15 ms of CPU a job, a third of a short job's cost) that most programs never touch;
        a job now faults in what it does use (1.5-3 ms more latency, measured against a grade's 50-400 ms)."""
        wire.encode({"status": "ok"}, [self.np.zeros(3)])
        self.runtime.execute({"source": "z = np.mean(np.ones(3))", "names": ["np"]}, self.modules, {}, Marker())

    def seed(self, seed: int) -> None:
        seed_all(self.np, self.torch, seed)

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
            "prefork": self.pool.size,
            "idle": [i.pid for i in self.pool.idle],  # the pre-forked children waiting for a job now
        }

    # ---- jobs -----------------------------------------------------------------------------------
    def load(self, raw: Any) -> tuple[Job, dict[str, Any]]:
        """(the job, its data arrays), or JobError with the sentence its reply carries."""
        check_source(raw)  # a job without a program says so first, even on a host that refuses every job
        missing = layers.missing_layers(self.layers)
        if self.require_isolation and missing:
            raise JobError(layers.isolation_refusal(missing))
        job = Job.from_wire(raw)
        self.next_seed = job.seed
        self._check_names(job.names)
        return job, {var: self._data(src) for var, src in job.data.items()}

    def prepare(self, raw: Any) -> tuple[dict, dict[str, Any]]:
        """(the job as the runtime reads it, with defaults; its data arrays), or JobError."""
        job, data = self.load(raw)
        return job.to_wire(), data

    def _check_names(self, names: list[str]) -> None:
        missing = [n for n in names if n not in self.modules]
        if not missing:
            return
        if self.torch is None and any(n in TORCH_NAMES for n in missing):
            why = f" ({self.torch_error})" if self.torch_error else " (it was started without torch)"
            raise JobError(f"this program needs torch for `{missing[0]}`, but the evaluator has no torch{why}")
        raise JobError(f"the program asks for `{missing[0]}`, which the evaluator does not provide")

    def _data(self, src: DataSource) -> Any:
        if src.array is not None:
            return self._inline_array(src)
        if src.columns is not None:
            return self._csv_table(src.csv, src.columns)  # a 2-D array, one column per name
        columns = self._csv_columns(src.csv)
        if src.column not in columns:
            raise JobError(f"the data file {src.csv} has no column `{src.column}`")
        return columns[src.column]

    def _inline_array(self, src: DataSource) -> Any:
        """An array carried in the job (a lesson's own data): decoded, checked against its shape, and
        writable (a program may centre its data in place)."""
        import base64
        import binascii

        try:
            raw = base64.b64decode(src.array or "", validate=True)
        except (binascii.Error, ValueError):
            raise JobError("the data sent with the job is not valid base64") from None
        count = 1
        for n in src.shape or []:
            count *= n
        if len(raw) != 8 * count:
            raise JobError(f"the data sent with the job holds {len(raw) // 8} values where its shape {src.shape} needs {count}")
        return self.np.frombuffer(bytearray(raw), dtype="<f8").reshape(src.shape or [])

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
            raise JobError(f"the data file {path} could not be read ({type(exc).__name__}: {exc})") from None
        if table.size and table.shape[1] != len(names):
            raise JobError(f"the data file {path} has {len(names)} column names but {table.shape[1]} values a row")
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
            raise JobError(f"the data file {path} has no column `{missing[0] if missing else ''}`")
        return self.np.ascontiguousarray(self.np.column_stack([columns[n] for n in names]))

    def run(self, jobs: list[Any], emit: Callable[[dict], None] | None = None) -> list[tuple[dict, bytes]]:
        """Run one request's jobs (scheduler.Request); (reply, blob) per job, in order."""
        return Request(self, jobs, emit).run()

    # ---- the pool of pre-forked children --------------------------------------------------------
    def refill(self, busy: Callable[[], bool] | None = None) -> None:
        """Pre-fork children until the pool is full, stopping early when `busy()` says a request has
        arrived (it is served first; the pool fills again after it)."""
        if self.require_isolation and layers.missing_layers(self.layers):
            self.pool.size = 0
            return  # every job is refused: nothing will run
        self.pool.refill(busy)

    def reap_dying(self, block: bool = True) -> None:
        self.pool.reap_dying(block)

    @property
    def pool_short(self) -> bool:
        return self.pool.short

    def close_pool(self) -> None:
        self.pool.close()


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
    framing.write_json(frames_out, {"ready": True, **worker.info()})
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
            payload = framing.read_frame(0)
        except ValueError as exc:
            framing.write_json(frames_out, {"error": str(exc)})
            return
        if payload is None or not _answer(worker, payload, frames_out):
            return


def _answer(worker: Worker, payload: bytes | bytearray, frames_out: int) -> bool:
    """Serve one request; False when the worker is to exit."""
    try:
        request = json.loads(payload)
        op = request.get("op") if isinstance(request, dict) else None
    except ValueError:
        request, op = None, None
    # Children of earlier requests that replied early are killed already; a run collects them as
    # they go, any other request waits until they are gone (what a caller then sees is settled).
    worker.reap_dying(block=op != "run")
    if op == "run" and isinstance(request.get("jobs"), list):
        done = worker.run(request["jobs"], emit=lambda obj: framing.write_json(frames_out, obj))
        framing.write_json(frames_out, {"results": [reply for reply, _ in done]})
        for _, blob in done:
            framing.write_frame(frames_out, blob)
    elif op == "info":
        framing.write_json(frames_out, worker.info())
    elif op == "exit":
        framing.write_json(frames_out, {"ok": True})
        return False
    else:
        framing.write_json(frames_out, {"error": "unknown request: expected op run, info or exit"})
    return True


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
