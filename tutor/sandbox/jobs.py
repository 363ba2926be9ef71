"""The job format: what the parent asks the sandbox to run, written down once (docs/sandbox.md, "Job").

A caller builds a `Job` (or, as before, the same thing as a JSON-shaped dict); `Evaluator.run` sends
`to_wire()`; the worker turns every job it receives back into a `Job` with `Job.from_wire`, which is
the one place a job is checked: a malformed one raises JobError with the sentence its reply carries.
The fields the runtime reads for itself (filename, captures, blanks, max_pairs, the sampling) are kept
as sent: the runtime turns one it cannot use into the run's own result, as it always has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 3600.0
DEFAULT_MEMORY_MB = 1024
MIN_MEMORY_MB = 16
DEFAULT_FILENAME = "<lesson>"
DEFAULT_MAX_PAIRS = 8
MAX_DATA_DIMS = 32  # numpy's own limit on an array's dimensions
MAX_HOLD = 4096  # blanks an "after" may hold on (a lesson has far fewer)


class JobError(Exception):
    """A job cannot be prepared; the message is the sentence the learner or instructor sees."""


@dataclass(slots=True)
class DataSource:
    """A variable's data: one column of a CSV file (a 1-D array) or several side by side (rows, n),
    or an array carried in the job itself (`array`: float64 little-endian bytes in base64, `shape`),
    as a lesson's own data is: the worker decodes it and no process opens a file for it."""

    csv: str = ""
    column: str | None = None
    columns: list[Any] | None = None  # names, checked against the file when it is read
    array: str | None = None  # base64 of the float64 values, checked against `shape` when decoded
    shape: list[int] | None = None

    @classmethod
    def from_wire(cls, var: Any, spec: Any) -> DataSource:
        if isinstance(spec, dict) and "array" in spec:
            shape = spec.get("shape")
            if not (isinstance(spec["array"], str) and isinstance(shape, list) and len(shape) <= MAX_DATA_DIMS
                    and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
                raise JobError(f"the data for `{var}` is not an array of float64 values and a shape")
            return cls(array=spec["array"], shape=list(shape))
        if isinstance(spec, dict) and isinstance(spec.get("csv"), str) and isinstance(spec.get("columns"), list):
            return cls(spec["csv"], columns=list(spec["columns"]))
        if not (isinstance(spec, dict) and isinstance(spec.get("csv"), str) and isinstance(spec.get("column"), str)):
            raise JobError(f"the data for `{var}` does not name a CSV file and column")
        return cls(spec["csv"], column=spec["column"])

    def to_wire(self) -> dict[str, Any]:
        if self.array is not None:
            return {"array": self.array, "shape": list(self.shape or [])}
        if self.columns is not None:
            return {"csv": self.csv, "columns": list(self.columns)}
        return {"csv": self.csv, "column": self.column}


@dataclass(slots=True)
class After:
    """Hold the job back until job `job` of the same request needs it, or `seconds` into that job's
    run; skip it when that job ends with every check agreeing (docs/sandbox.md, "A job that waits on
    another"). `hold`: blanks (hook numbers) in which job `job` checks its own values in place: while
    it runs inside one of them with every check agreeing so far, the clock does not start this job,
    and when its timeout kills it there, this job is skipped, or stopped if it had started on the
    clock (it would only hang in the same place).
    `job` None: the spec named no job; the job then runs as any other."""

    job: int | None
    seconds: float = 0.0
    hold: frozenset[int] = frozenset()

    @classmethod
    def from_wire(cls, spec: Any) -> After:
        if not isinstance(spec, dict):
            return cls(None)
        k, secs, hold = spec.get("job"), spec.get("seconds", 0.0), spec.get("hold", [])
        if not isinstance(k, int) or isinstance(k, bool):
            k = None
        if not isinstance(secs, (int, float)) or isinstance(secs, bool) or not 0 <= secs < 1e6:
            secs = 0.0
        if not isinstance(hold, list) or len(hold) > MAX_HOLD:
            hold = []
        return cls(k, float(secs), frozenset(i for i in hold if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 2**62))

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"job": self.job, "seconds": self.seconds}
        if self.hold:
            out["hold"] = sorted(self.hold)
        return out


# `tutor check`'s mutants that wrap a whole expression answer (`-(answer)`, `2 * (answer)`: Mutant.wraps),
# as operations on its value: what a reference run's `probe_wrappers` judges, and its result names.
WRAPPERS = {"neg": lambda v: -v, "double": lambda v: 2 * v}


@dataclass(slots=True)
class Job:
    """One program to run in a child of its own, and what to record of it."""

    source: str  # the instrumented program
    id: Any = None  # echoed in the reply
    filename: str = DEFAULT_FILENAME  # what tracebacks call the program
    names: list[str] = field(default_factory=list)  # the modules it sees: np, torch, nn, optim, F
    data: dict[str, DataSource] = field(default_factory=dict)  # variables read from CSV files
    seed: int = 0  # for random, numpy and torch, from 0 to 2**32 - 1
    timeout: float = DEFAULT_TIMEOUT  # wall-clock seconds (CPU time too), at most MAX_TIMEOUT
    memory_mb: int = DEFAULT_MEMORY_MB  # address space over the worker's own, at least MIN_MEMORY_MB
    captures: dict[str, list[str]] = field(default_factory=dict)  # step -> expressions recorded after it
    blanks: list[dict[str, Any]] = field(default_factory=list)  # per blank: name, rtol, atol, numpy_rng
    max_pairs: int = DEFAULT_MAX_PAIRS  # differing calls described per blank
    shadow_sample_after: int | None = None  # compare every call up to this many, then one in ...
    shadow_sample_every: int | None = None  # ... this many (None: every call)
    stream: bool = False  # relay its output while it runs
    after: After | None = None  # wait on another job of the request
    # The run ends (status "ok", "stopped": true) once every blank listed is judged: in a shadow run,
    # each described by `max_pairs` differing calls or an error; in a learner run, any disagreement.
    stop_when_judged: list[int] = field(default_factory=list)
    stop_at_disagreement: bool = False
    # Compared blanks the program reaches at most once (the grader reads it off the program: top level,
    # outside any loop, function or comprehension): judged after their first compared call.
    once: list[int] = field(default_factory=list)
    # In a learner run: in-place checks whose disagreement at the blank's first call needs no shadow run
    # (the program up to that call is the reference's, so the check compared what the shadow run would).
    decisive: list[int] = field(default_factory=list)
    # In a reference run: expression blanks whose first value also says whether each of WRAPPERS
    # applied to it would pass there (`tutor check`'s wrapping mutants: runtime.Runtime._wrappers).
    probe_wrappers: list[int] = field(default_factory=list)

    @classmethod
    def from_wire(cls, obj: Any) -> Job:
        """The job a JSON object describes, with defaults; JobError with one sentence if malformed."""
        source = check_source(obj)
        timeout, memory, seed, names = _timeout(obj), _memory(obj), _seed(obj), _names(obj)  # in this order
        spec = obj.get("data") or {}
        if not isinstance(spec, dict):
            raise JobError("the job's data is not a mapping of variable names")
        return cls(
            source=source,
            id=obj.get("id"),
            filename=obj.get("filename", DEFAULT_FILENAME),
            names=names,
            data={str(var): DataSource.from_wire(var, src) for var, src in spec.items()},
            seed=seed,
            timeout=timeout,
            memory_mb=memory,
            captures=obj.get("captures") or {},
            blanks=obj.get("blanks") or [],
            max_pairs=obj.get("max_pairs", DEFAULT_MAX_PAIRS),
            shadow_sample_after=obj.get("shadow_sample_after"),
            shadow_sample_every=obj.get("shadow_sample_every"),
            stream=obj.get("stream") is True,
            after=After.from_wire(obj["after"]) if "after" in obj else None,
            stop_when_judged=_blank_indices(obj.get("stop_when_judged"), "stop_when_judged"),
            once=_blank_indices(obj.get("once"), "once"),
            decisive=_blank_indices(obj.get("decisive"), "decisive"),
            probe_wrappers=_blank_indices(obj.get("probe_wrappers"), "probe_wrappers"),
            stop_at_disagreement=obj.get("stop_at_disagreement") is True,
        )

    def to_wire(self) -> dict[str, Any]:
        """The JSON object `from_wire` reads back (also what the runtime reads its fields from)."""
        out: dict[str, Any] = {
            "id": self.id,
            "source": self.source,
            "filename": self.filename,
            "names": list(self.names),
            "data": {var: src.to_wire() if isinstance(src, DataSource) else src for var, src in self.data.items()},
            "seed": self.seed,
            "timeout": self.timeout,
            "memory_mb": self.memory_mb,
            "captures": self.captures,
            "blanks": self.blanks,
            "max_pairs": self.max_pairs,
        }
        if self.shadow_sample_after is not None:
            out["shadow_sample_after"] = self.shadow_sample_after
        if self.shadow_sample_every is not None:
            out["shadow_sample_every"] = self.shadow_sample_every
        if self.stream:
            out["stream"] = True
        if self.after is not None:
            out["after"] = self.after.to_wire()
        if self.stop_when_judged:
            out["stop_when_judged"] = list(self.stop_when_judged)
        if self.stop_at_disagreement:
            out["stop_at_disagreement"] = True
        if self.once:
            out["once"] = list(self.once)
        if self.decisive:
            out["decisive"] = list(self.decisive)
        if self.probe_wrappers:
            out["probe_wrappers"] = list(self.probe_wrappers)
        return out


def _blank_indices(value: Any, field_name: str) -> list[int]:
    """A list of blank numbers (hook indices), or JobError."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 10_000 or not all(type(i) is int and 0 <= i < 10_000 for i in value):
        raise JobError(f"the job's {field_name} is not a list of blank numbers")
    return list(value)


def to_wire(job: Job | dict[str, Any]) -> Any:
    """What goes to the worker for `job`: a Job's JSON object; a dict as it is (the worker checks it)."""
    return job.to_wire() if isinstance(job, Job) else job


def check_source(obj: Any) -> str:
    if not isinstance(obj, dict) or not isinstance(obj.get("source"), str):
        raise JobError("the job has no program source")
    return obj["source"]


def _timeout(obj: dict[str, Any]) -> float:
    timeout = obj.get("timeout", DEFAULT_TIMEOUT)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not math.isfinite(timeout) or timeout <= 0:
        raise JobError(f"the job's time limit {timeout!r} is not a positive number of seconds")
    return min(float(timeout), MAX_TIMEOUT)


def _memory(obj: dict[str, Any]) -> int:
    memory = obj.get("memory_mb", DEFAULT_MEMORY_MB)
    if not isinstance(memory, int) or isinstance(memory, bool) or memory < MIN_MEMORY_MB:
        raise JobError(f"the job's memory limit {memory!r} is not a whole number of MiB of at least {MIN_MEMORY_MB}")
    return memory


def _seed(obj: dict[str, Any]) -> int:
    seed = obj.get("seed", 0)
    if seed is None:
        seed = 0
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise JobError(f"the job's seed {seed!r} is not a whole number from 0 to 2**32 - 1")
    return seed


def _names(obj: dict[str, Any]) -> list[str]:
    names = obj.get("names") or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise JobError("the job's names are not a list of strings")
    return list(names)
