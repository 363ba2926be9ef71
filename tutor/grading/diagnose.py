"""Why an answer is wrong: turns what a run saw into a diagnosis code and one sentence.

The sentences say what is wrong without giving the answer: the sign, a factor, a shape, a type.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from tutor.sandbox.results import BlankTrace, RunError, Value, fmt_shape

from tutor.lesson import DIAGNOSIS_CODES as CODES  # noqa: E402,F401 - one list, shared with the parser

ERROR_CODES = {"syntax_error", "forbidden", "runtime_error", "timeout", "memory"}


@dataclass
class Diagnosis:
    code: str
    message: str
    factor: float | None = None
    call: int | None = None  # 0-based iteration at which the answer first differs

    @property
    def verdict(self) -> str:
        if self.code == "missing":
            return "missing"
        return "error" if self.code in ERROR_CODES else "incorrect"


def _when(call: int | None) -> str:
    if call is None:
        return ""
    return " from the first time it runs" if call == 0 else f" from its run number {call + 1} on"


def _num(x: float) -> str:
    if x == 0 or not math.isfinite(x):
        return str(x)
    if abs(x) >= 1e5 or abs(x) < 1e-3:
        return f"{x:.3g}"
    return f"{x:.4g}"


def nice_factor(k: float) -> tuple[str, float] | None:
    """'400', '1/2'... when k is an integer or the reciprocal of one (within rounding), else None."""
    if not math.isfinite(k) or k == 0:
        return None
    m = round(k)
    if m != 0 and abs(k - m) <= 1e-4 * abs(k):
        return str(int(m)), float(m)
    inv = 1.0 / k
    m = round(inv)
    if m != 0 and abs(inv - m) <= 1e-4 * abs(inv):
        return ("-" if m < 0 else "") + f"1/{abs(int(m))}", 1.0 / m
    return None


def _scale_of(pairs: list[tuple[Value, Value, int]]) -> float | None:
    """The constant k with learner == k * reference over all pairs, if there is one."""
    refs, gots = [], []
    for r, g, _ in pairs:
        if not (r.is_numeric and g.is_numeric) or r.shape != g.shape:
            return None
        refs.append(np.ravel(r.array))
        gots.append(np.ravel(g.array))
    r = np.concatenate(refs)
    g = np.concatenate(gots)
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(g))):
        return None
    rr = float(np.dot(r, r))
    if rr == 0.0 or r.size == 0:
        return None
    k = float(np.dot(g, r)) / rr
    if k == 0:
        return None
    low = any("32" in v.dtype or "16" in v.dtype for v, _, _ in pairs)
    tol = (1e-4 if low else 1e-7) * max(float(np.max(np.abs(g))), 1e-300)
    if float(np.max(np.abs(g - k * r))) > tol:
        return None
    if r.size == 1 and nice_factor(k) is None:
        return None  # one number is always some multiple of another: only trust round factors
    return k


def scaled_message(name: str, k: float, sizes: list[int], when: str) -> Diagnosis:
    nice = nice_factor(k)
    label, value = nice if nice else (_num(k), k)
    if abs(k + 1) <= 1e-4:
        return Diagnosis("sign_flipped", f"`{name}` has the right size but the opposite sign{when}.", -1.0)
    ak = abs(value)
    reason = ""
    for n in sizes:
        if n > 1 and abs(ak - n) <= 1e-4 * n:
            reason = f" {n} is the number of data points: a sum may stand where a mean belongs."
        elif n > 1 and abs(ak * n - 1) <= 1e-4:
            reason = f" 1/{n} is one over the number of data points: a mean may stand where a sum belongs."
    if not reason:
        if abs(ak - 2) <= 1e-4:
            reason = " Is a factor 2 there twice?"
        elif abs(ak - 0.5) <= 1e-4:
            reason = " A factor of 2 may be missing."
        else:
            reason = " Check the constant factors."
    if value < 0:
        reason = " The sign is flipped too." + reason
    return Diagnosis("scaled", f"`{name}` is {label} times the expected value{when}.{reason}", float(value))


def compare(name: str, ref: Value, got: Value, *, sizes: list[int], call: int | None = None,
            pairs: list[tuple[Value, Value, int]] | None = None) -> Diagnosis:
    """The diagnosis for a learner value that differs from the reference value."""
    when = _when(call)
    if got.kind in ("error", "invalid"):
        return Diagnosis("wrong_value", f"`{name}` could not be evaluated{when}: {got.text or 'no value'}.", call=call)
    if ref.kind == "object" or got.kind == "object":
        return _compare_objects(name, ref, got, call)
    if got.kind == "none" and ref.kind != "none":
        return Diagnosis(
            "wrong_type",
            f"`{name}` is None where {ref.describe_type()} is expected: the expression returns nothing.",
            call=call,
        )
    if not (ref.is_numeric and got.is_numeric):
        return Diagnosis("wrong_type", f"`{name}` is {got.describe_type()} where {ref.describe_type()} is expected.", call=call)
    if (ref.type == "Tensor") != (got.type == "Tensor"):
        return Diagnosis("wrong_type", f"`{name}` is {got.describe_type()} where {ref.describe_type()} is expected.", call=call)
    if ref.type == "ndarray" and got.type in ("list", "tuple") and ref.shape:
        return Diagnosis("wrong_type", f"`{name}` is a Python {got.type} where a numpy array is expected.", call=call)
    if ref.shape != got.shape:
        extra = ""
        if sorted(ref.shape) != sorted(got.shape) and math.prod(ref.shape) == math.prod(got.shape):
            extra = " The values are there, but arranged in a different shape."
        elif len(ref.shape) != len(got.shape) and (1 in ref.shape or 1 in got.shape):
            extra = " A column (n, 1) and a flat (n,) array broadcast into an n x n table when combined."
        return Diagnosis(
            "shape_mismatch",
            f"`{name}` has shape {fmt_shape(got.shape)} but should have shape {fmt_shape(ref.shape)}.{extra}",
            call=call,
        )
    if (ref.type == "Tensor" or (ref.type == "ndarray" and ref.shape)) and ref.dtype != got.dtype:
        tail = " The model's weights are float32, and both sides of an operation must match." if ref.dtype == "float32" else ""
        return Diagnosis("dtype_mismatch", f"`{name}` holds {got.dtype} values where {ref.dtype} values are expected.{tail}", call=call)
    if ref.device and got.device and ref.device != got.device:
        return Diagnosis("dtype_mismatch", f"`{name}` is on {got.device} where {ref.device} is expected.", call=call)
    g, r = got.array, ref.array
    if not np.all(np.isfinite(g)) and np.all(np.isfinite(r)):
        return Diagnosis("nan_or_inf", f"`{name}` contains NaN or infinite values{when}: look for a division by zero or a log of 0.", call=call)
    k = _scale_of(pairs or [(ref, got, call or 0)])
    if k is not None:
        d = scaled_message(name, k, sizes, when)
        d.call = call
        return d
    if r.size == 1:
        detail = f": {_num(float(np.ravel(g)[0]))} instead of {_num(float(np.ravel(r)[0]))}"
    else:
        detail = ""
    return Diagnosis("wrong_value", f"`{name}` does not give the expected value{when}{detail}.", call=call)


def _compare_objects(name: str, ref: Value, got: Value, call: int | None) -> Diagnosis:
    if ref.kind != "object":
        return Diagnosis("wrong_type", f"`{name}` is {got.describe_type()} where {ref.describe_type()} is expected.", call=call)
    if got.kind != "object" or got.category != ref.category:
        return Diagnosis("wrong_type", f"`{name}` is {got.describe_type()}, not the kind of object this step needs.", call=call)
    if got.type != ref.type:
        what = {"module": "layer or loss", "optimizer": "optimizer"}.get(ref.category, "object")
        return Diagnosis("wrong_type", f"`{name}` is `{got.type}`, which is not the {what} this step needs.", call=call)
    for key in sorted(set(ref.config) | set(got.config)):
        rv, gv = ref.config.get(key), got.config.get(key)
        if rv != gv and not (isinstance(rv, float) and isinstance(gv, (int, float)) and math.isclose(rv, gv, rel_tol=1e-9)):
            return Diagnosis(
                "wrong_type",
                f"`{name}` is the right kind of {ref.category or 'object'}, but its `{key}` is {gv!r}, not the value this step uses.",
                call=call,
            )
    rshapes = [p[1] for p in ref.params]
    gshapes = [p[1] for p in got.params]
    if rshapes != gshapes:
        if ref.category == "optimizer":
            return Diagnosis("wrong_type", f"`{name}` updates different parameters: give it the model's parameters.", call=call)
        return Diagnosis("shape_mismatch", f"`{name}` has parameters of shapes {gshapes} where {rshapes} are expected.", call=call)
    if ref.category == "optimizer":
        return Diagnosis("wrong_type", f"`{name}` updates different tensors than the model's parameters.", call=call)
    if len(ref.children) != len(got.children):
        return Diagnosis("wrong_type", f"`{name}` has {len(got.children)} layers where {len(ref.children)} are expected.", call=call)
    for rc, gc in zip(ref.children, got.children):
        if rc.type != gc.type or rc.config != gc.config:
            return Diagnosis("wrong_type", f"`{name}` contains a `{gc.type}` where a different layer is expected.", call=call)
    return Diagnosis(
        "wrong_value",
        f"`{name}` is the right kind of {ref.category or 'object'} but starts from different weights: "
        "create it exactly where the program does, so it draws the same seeded random numbers.",
        call=call,
    )


def from_trace(name: str, trace: BlankTrace, sizes: list[int]) -> Diagnosis | None:
    """The diagnosis of an expression blank from shadow evaluation, or None when it matched."""
    if trace.error is not None:
        return from_error(name, trace.error)
    if trace.first_mismatch is None or not trace.pairs:
        return None
    ref, got, call = trace.pairs[0]
    pairs = [p for p in trace.pairs if p[0].shape == ref.shape and p[1].shape == got.shape]
    return compare(name, ref, got, sizes=sizes, call=call, pairs=pairs)


_DTYPE_RE = re.compile(r"(Double|Float|Half|Long|Int)\b.*\b(Double|Float|Half|Long|Int)\b|dtype", re.I)


def from_error(name: str | None, err: RunError, status: str = "error") -> Diagnosis:
    """A runtime error, explained in terms of the blank that raised it."""
    where = f"`{name}`" if name else "the program"
    if status == "timeout":
        return Diagnosis("timeout", f"{where} did not finish in time: look for a loop that never ends or a huge computation.")
    if status == "memory" or err.type == "MemoryError" or "can't allocate memory" in err.message:
        return Diagnosis("memory", f"{where} needs more memory than a run may use: look for a very large array or tensor.")
    if err.type == "NameError" and err.name:
        hint = f": did you mean `{err.suggest[0]}`?" if err.suggest else "."
        return Diagnosis("runtime_error", f"in {where}, `{err.name}` is not defined{hint}", call=err.call)
    if err.type == "AttributeError" and err.name:
        hint = f": did you mean `{err.suggest[0]}`?" if err.suggest else "."
        return Diagnosis("runtime_error", f"in {where}, there is no attribute `{err.name}`{hint}", call=err.call)
    msg = err.message
    if err.type == "RuntimeError" and ("Double" in msg and "Float" in msg or "same dtype" in msg):
        return Diagnosis(
            "runtime_error",
            f"in {where}, a float64 (double) tensor meets float32 weights: make the tensor float32.",
            call=err.call,
        )
    if "shape" in msg or "size of tensor" in msg or "broadcast" in msg or "mat1 and mat2" in msg:
        return Diagnosis("runtime_error", f"in {where}, the shapes do not fit together: {_first_line(msg)}", call=err.call)
    if "does not require grad" in msg or "grad_fn" in msg:
        return Diagnosis(
            "runtime_error",
            f"in {where}, gradients cannot flow: {_first_line(msg)} (was the value detached or computed without the model?)",
            call=err.call,
        )
    return Diagnosis("runtime_error", f"{where} raised {err.type}: {_first_line(msg)}", call=err.call)


def _first_line(msg: str) -> str:
    line = (msg or "").strip().split("\n")[0]
    return (line[:200] + "…") if len(line) > 200 else line


def compare_runs(
    name: str,
    ref_caps: dict[str, dict[str, Value]],
    got_caps: dict[str, dict[str, Value]],
    tolerances: dict[str, tuple[float, float]],
    *,
    loss_exprs: set[str],
    sizes: list[int],
) -> Diagnosis | None:
    """Compare a learner (or isolation) run's captured values with the reference run's; None if alike."""
    first: Diagnosis | None = None
    for label, refs in ref_caps.items():
        gots = got_caps.get(label, {})
        for expr, ref in refs.items():
            got = gots.get(expr)
            if got is None:
                return Diagnosis("wrong_value", f"with your `{name}`, the program stopped before `{expr}` was computed.")
            if _close(ref, got, tolerances.get(expr, (1e-4, 1e-6))):
                continue
            d = _trace_diagnosis(name, expr, ref, got, expr in loss_exprs, sizes)
            if d.code in ("no_effect", "diverged"):
                return d
            first = first or d
    return first


def _close(ref: Value, got: Value, tol: tuple[float, float]) -> bool:
    if ref.kind == "none" and got.kind == "none":
        return True
    if ref.kind == got.kind == "other" and ref.type == got.type and ref.text and ref.text == got.text:
        return True  # a string or another plain value, compared by its text (`x.device.type` == 'cpu')
    if not (ref.is_numeric and got.is_numeric) or ref.shape != got.shape:
        return ref.kind == got.kind == "object" and ref.type == got.type and ref.config == got.config and all(
            a[2] is not None and b[2] is not None and a[1] == b[1] and np.allclose(a[2], b[2], rtol=tol[0], atol=tol[1])
            for a, b in zip(ref.params, got.params)
        ) and len(ref.params) == len(got.params)
    rtol, atol = tol
    return bool(np.allclose(got.array, ref.array, rtol=rtol, atol=atol, equal_nan=True))


def _trace_diagnosis(name: str, expr: str, ref: Value, got: Value, is_loss: bool, sizes: list[int]) -> Diagnosis:
    if ref.is_numeric and got.is_numeric and ref.shape == got.shape and ref.array.ndim >= 1 and ref.array.shape[0] > 1:
        r, g = ref.array, got.array
        r0 = r.reshape(r.shape[0], -1)
        g0 = g.reshape(g.shape[0], -1)
        ref_moves = bool(np.all(np.isfinite(r0))) and float(np.max(np.abs(r0 - r0[0]))) > 0
        got_still = bool(np.all(np.isfinite(g0))) and float(np.max(np.abs(g0 - g0[0]))) == 0
        if ref_moves and got_still:
            return Diagnosis(
                "no_effect",
                f"with your `{name}`, training has no effect: `{expr}` stays at {_num(float(g0[0].ravel()[0]))} every epoch.",
            )
        if np.all(np.isfinite(r)) and not np.all(np.isfinite(g)):
            bad = int(np.argmax(~np.isfinite(g0).all(axis=1)))
            return Diagnosis("diverged", f"with your `{name}`, training diverges: `{expr}` becomes infinite or NaN at epoch {bad + 1}.")
        if is_loss and np.all(np.isfinite(g)) and float(np.max(np.abs(g0[-1]))) > 10 * max(float(np.max(np.abs(g0[0]))), 1e-12):
            return Diagnosis("diverged", f"with your `{name}`, training diverges: `{expr}` grows from {_num(float(g0[0].ravel()[0]))} to {_num(float(g0[-1].ravel()[0]))}.")
    d = compare(expr, ref, got, sizes=sizes)
    if d.code == "wrong_value":
        d = Diagnosis("wrong_value", f"with your `{name}`, `{expr}` does not match the reference run.")
    else:
        d = Diagnosis(d.code, f"with your `{name}`, " + d.message[0].lower() + d.message[1:], d.factor)
    return d
