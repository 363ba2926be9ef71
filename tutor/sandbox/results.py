"""Parent side: a decoded result blob -> typed, schema-checked values. Nothing here trusts the child.

Every field is checked for type and size; anything malformed becomes a `kind == "invalid"` value or a
missing entry, never an exception, so a hostile child can at worst get its own answer marked wrong.
Nothing here copies an array (values are views into the blob) or a whole container of the header
(`islice`, not `list(d.items())`), so the conversion costs at most what the header's objects cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np

from tutor.sandbox.jobs import WRAPPERS

_MAX_KEYS = 10_000


def _s(v: Any, limit: int = 600) -> str:
    return v[:limit] if isinstance(v, str) else ""


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


@dataclass
class Value:
    """A value from a run: numbers as a float64 array, plus what it was (type, dtype, shape)."""

    kind: str  # "array", "object", "none", "other", "error", "invalid"
    type: str = ""
    dtype: str = ""
    shape: tuple[int, ...] = ()
    array: np.ndarray | None = None
    device: str | None = None
    requires_grad: bool | None = None
    is_leaf: bool | None = None
    category: str = ""  # for objects: "module" or "optimizer"
    config: dict[str, Any] = field(default_factory=dict)
    params: list[tuple[str, tuple[int, ...], np.ndarray | None]] = field(default_factory=list)
    children: list["Value"] = field(default_factory=list)
    text: str = ""  # repr for "other", message for "error"
    scalar: bool = False

    @property
    def is_numeric(self) -> bool:
        return self.kind == "array" and self.array is not None

    def describe_type(self) -> str:
        if self.kind == "array":
            if self.type == "Tensor":
                return f"a {self.dtype} tensor of shape {fmt_shape(self.shape)}"
            if self.type == "ndarray":
                if self.shape == ():
                    return f"a {self.dtype} number"
                return f"a {self.dtype} array of shape {fmt_shape(self.shape)}"
            if self.type in ("list", "tuple"):
                return f"a {self.type} of {self.shape[0] if self.shape else 0} values"
            return f"a Python {self.type}"
        if self.kind == "object":
            return f"`{self.type}`"
        if self.kind == "none":
            return "None"
        return f"a {self.type or 'value'}"


def fmt_shape(shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(s) for s in shape) + ")"


def parse_value(d: Any, arrays: list[np.ndarray], depth: int = 0) -> Value:
    if not isinstance(d, dict) or depth > 6:
        return Value("invalid")
    kind = d.get("kind")
    if kind == "none":
        return Value("none")
    if kind == "error":
        return Value("error", text=_s(d.get("message")))
    if kind == "other":
        return Value("other", type=_s(d.get("type"), 120), text=_s(d.get("text")))
    if kind == "array":
        shape_raw = d.get("shape")
        if not isinstance(shape_raw, list) or len(shape_raw) > 8 or not all(_int(s) is not None and s >= 0 for s in shape_raw):
            return Value("invalid")
        shape = tuple(shape_raw)
        arr = None
        idx = _int(d.get("array"))
        if idx is not None and 0 <= idx < len(arrays):
            cand = arrays[idx]
            if math.prod(shape) == cand.size:  # exact: an int64 product could wrap to the size of another array
                arr = cand.reshape(shape)
        rg = d.get("requires_grad")
        return Value(
            "array",
            type=_s(d.get("type"), 40),
            dtype=_s(d.get("dtype"), 40),
            shape=shape,
            array=arr,
            device=_s(d.get("device"), 40) or None,
            requires_grad=rg if isinstance(rg, bool) else None,
            is_leaf=d.get("is_leaf") if isinstance(d.get("is_leaf"), bool) else None,
            scalar=d.get("scalar") is True,
        )
    if kind == "object":
        config = {}
        raw = d.get("config")
        if isinstance(raw, dict):
            for k, v in islice(raw.items(), 64):
                if isinstance(k, str) and (isinstance(v, (bool, int, float, str)) or v is None or isinstance(v, list)):
                    config[k[:60]] = v
        params = []
        for p in (d.get("params") or [])[:64] if isinstance(d.get("params"), list) else []:
            if not isinstance(p, dict) or not isinstance(p.get("shape"), list):
                continue
            shape = tuple(s for s in p["shape"] if _int(s) is not None)
            idx = _int(p.get("array"))
            arr = arrays[idx] if idx is not None and 0 <= idx < len(arrays) else None
            params.append((_s(p.get("name"), 60), shape, arr))
        children = []
        if isinstance(d.get("children"), list):
            children = [parse_value(c, arrays, depth + 1) for c in d["children"][:64]]
        shapes = d.get("param_shapes")
        if isinstance(shapes, list):
            params += [("", tuple(x for x in s if _int(x) is not None), None) for s in shapes[:64] if isinstance(s, list)]
        return Value(
            "object",
            type=_s(d.get("type"), 120),
            category=_s(d.get("category"), 20),
            config=config,
            params=params,
            children=children,
        )
    return Value("invalid")


MAX_FRAMES = 5  # frames of a traceback kept (the child sends at most this many: runtime.MAX_FRAMES)


@dataclass(frozen=True)
class Frame:
    """One frame of the program in an error's traceback: a line of the generated program, its function."""

    line: int
    function: str


@dataclass
class RunError:
    type: str
    message: str
    line: int | None = None
    blank: int | None = None
    call: int | None = None
    name: str | None = None
    suggest: list[str] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)  # the program's last frames, innermost last
    depth: int = 0  # how many frames of the program the traceback had (at least len(frames))


def parse_frames(v: Any) -> list[Frame]:
    """The last MAX_FRAMES well-formed frames of a child's list; anything else is left out."""
    if not isinstance(v, list):
        return []
    out = []
    for f in v[-MAX_FRAMES:]:
        if isinstance(f, dict):
            line = _int(f.get("line"))
            if line is not None and 1 <= line <= 10_000_000:
                out.append(Frame(line, _s(f.get("function"), 80)))
    return out


def parse_error(d: Any) -> RunError | None:
    if not isinstance(d, dict):
        return None
    suggest = d.get("suggest")
    frames = parse_frames(d.get("frames"))
    depth = _int(d.get("depth"))
    return RunError(
        type=_s(d.get("type"), 80) or "Error",
        message=_s(d.get("message")),
        line=_int(d.get("line")),
        blank=_int(d.get("blank")),
        call=_int(d.get("call")),
        name=_s(d.get("name"), 80) or None,
        suggest=[_s(x, 80) for x in suggest[:3] if isinstance(x, str)] if isinstance(suggest, list) else [],
        frames=frames,
        depth=max(len(frames), min(depth, 1_000_000)) if depth is not None else len(frames),
    )


@dataclass
class BlankTrace:
    """What shadow evaluation saw for one expression blank."""

    calls: int = 0  # calls compared (with sampling, fewer than the line ran)
    seen: int = 0  # times the blank's line ran (up to its last compared call); 0 when not reported
    matched: int = 0
    first_mismatch: int | None = None
    pairs: list[tuple[Value, Value, int]] = field(default_factory=list)  # (reference, learner, call)
    error: RunError | None = None
    # A reference run's verdicts on `tutor check`'s wrapping mutants at the first call: a name of
    # jobs.WRAPPERS -> "differs" or "same".
    wrapped: dict[str, str] = field(default_factory=dict)


@dataclass
class RunResult:
    """One job's outcome, as the grader sees it."""

    status: str  # "ok", "error", "timeout", "memory", "crashed", "oversize", "bad_result"
    error: RunError | None = None
    captures: dict[str, dict[str, Value]] = field(default_factory=dict)
    blanks: dict[int, BlankTrace] = field(default_factory=dict)
    failed_blank: int | None = None
    marker: int | None = None
    stdout: str = ""
    stdout_truncated: bool = False
    wall: float = 0.0
    stopped: bool = False  # ended early on purpose (Job.stop_when_judged, Job.stop_at_disagreement)
    signal: int | None = None
    detail: str = ""


def parse_run(outcome_status: str, header: Any, arrays: list[np.ndarray]) -> RunResult:
    """Build a RunResult from the worker's status and the (decoded, untrusted) child header."""
    res = RunResult(status=outcome_status)
    if not isinstance(header, dict):
        if outcome_status == "ok":
            res.status = "bad_result"
            res.detail = "the run ended without a result"
        return res
    st = header.get("status")
    if outcome_status == "ok" and st == "error":
        res.status = "error"
    res.error = parse_error(header.get("error"))
    if res.error and res.error.type == "MemoryError":
        res.status = "memory"
    res.failed_blank = _int(header.get("failed_blank"))
    res.stopped = header.get("stopped") is True
    wall = header.get("wall")
    if isinstance(wall, float):
        res.wall = wall
    caps = header.get("captures")
    if isinstance(caps, dict):
        for label, values in islice(caps.items(), 256):
            if isinstance(label, str) and isinstance(values, dict):
                res.captures[label] = {
                    k: parse_value(v, arrays) for k, v in islice(values.items(), _MAX_KEYS) if isinstance(k, str)
                }
    blanks = header.get("blanks")
    if isinstance(blanks, dict):
        for key, b in islice(blanks.items(), _MAX_KEYS):
            # ASCII digits only, and few: int() refuses "²" and 5000-digit strings, which isdigit() accepts
            if not (isinstance(key, str) and key.isascii() and key.isdigit() and len(key) <= 9 and isinstance(b, dict)):
                continue
            trace = BlankTrace(
                calls=_int(b.get("calls")) or 0,
                seen=max(0, _int(b.get("seen")) or 0),
                matched=_int(b.get("matched")) or 0,
                first_mismatch=_int(b.get("first_mismatch")),
                error=parse_error(b.get("error")),
            )
            wrapped = b.get("wrapped")
            if isinstance(wrapped, dict):
                trace.wrapped = {k: v for k, v in islice(wrapped.items(), 4) if k in WRAPPERS and v in ("differs", "same")}
            pairs = b.get("pairs")
            if isinstance(pairs, list):
                for p in pairs[:64]:
                    if isinstance(p, list) and len(p) == 3 and isinstance(p[2], dict):
                        trace.pairs.append((parse_value(p[0], arrays), parse_value(p[1], arrays), _int(p[2].get("call")) or 0))
            res.blanks[int(key)] = trace
    return res
