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


def _when(call: int | None, runs: int | None = None) -> str:
    """When a blank first differs, for a line that runs more than once: `runs` is how many times it
    ran (None when unknown: then the compared call numbers are all there is). A line that runs once
    (a blank outside any loop) gets no phrase: "from the first time it runs" would suggest more."""
    if call is None or (call == 0 and runs is not None and runs <= 1):
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


# Factors a `scaled` verdict may name: what a learner can act on. Anything else is `wrong_value`.
SMALL_FACTORS = (2, 3, 4)  # small integers (and their reciprocals) besides the data sizes
RATE_NAMES = frozenset({"lr", "learning_rate", "alpha", "eta", "step_size"})  # names of learning rates
_MATCH = 1e-4  # relative tolerance of a ratio against a factor
# What rounding alone does to a value computed in another order (`a - (b + c)` as `a - b - c`),
# relative to its largest magnitude, by precision: a difference this small is the tolerance's fault.
ROUNDING = {"float64": 1e-9, "float32": 1e-4, "float16": 1e-2, "bfloat16": 1e-2}
MIN_NUMBERS = 2  # independent non-zero numbers (elements or calls) that must share a ratio to show a factor


class Sizes(list):
    """A lesson's data sizes (a list of ints, largest last) that also carries the lesson's learning
    rates as `rates`: the numbers a `scaled` factor may be explained by (see `explain_factor`).
    The grader computes it once per lesson; a plain list of sizes works everywhere, with no rates."""

    rates: tuple[float, ...] = ()

    def __init__(self, sizes=(), rates=()) -> None:
        super().__init__(sizes)
        self.rates = tuple(rates)


def _independent(r: np.ndarray) -> int:
    """How many independent numbers the reference values hold: their distinct non-zero magnitudes.
    Several calls or elements count once each; a constant array (`np.ones(...) * c`) counts once."""
    a = np.sort(np.abs(r[r != 0]))
    if a.size == 0:
        return 0
    return 1 + int(np.count_nonzero(np.diff(a) > 1e-9 * a[-1]))


def _scale_of(pairs: list[tuple[Value, Value, int]]) -> tuple[float, int] | None:
    """The constant k with learner == k * reference over all pairs, if there is one, and how many
    independent numbers show it (`_independent`)."""
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
    with np.errstate(over="ignore", invalid="ignore"):  # a learner's huge values: no factor, not a warning
        rr = float(np.dot(r, r))
        if rr == 0.0 or r.size == 0 or not math.isfinite(rr):
            return None
        k = float(np.dot(g, r)) / rr
        if k == 0 or not math.isfinite(k):
            return None
        low = any("32" in v.dtype or "16" in v.dtype for v, _, _ in pairs)
        tol = (1e-4 if low else 1e-7) * max(float(np.max(np.abs(g))), 1e-300)
        if not float(np.max(np.abs(g - k * r))) <= tol:
            return None
    return k, _independent(r)


def rounding_only(ref: Value, got: Value) -> float | None:
    """The largest difference of two different numeric values relative to the reference's size, when it
    is within what rounding does (`ROUNDING`); None when they differ by more, or cannot be compared."""
    if not (ref.is_numeric and got.is_numeric) or ref.shape != got.shape or not ref.array.size:
        return None
    r, g = ref.array, got.array
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(g))):
        return None
    rel = float(np.max(np.abs(g - r))) / max(float(np.max(np.abs(r))), 1e-300)
    return rel if 0 < rel <= ROUNDING.get(ref.dtype, ROUNDING["float32"]) else None


def _near(a: float, b: float) -> bool:
    return abs(a - b) <= _MATCH * abs(b)


def _factors(sizes: list[int]) -> list[tuple[float, str, str, bool]]:
    """The actionable factors of a lesson, in the order they explain a ratio: (value, label, reason,
    trusted from a single number)."""
    out: list[tuple[float, str, str, bool]] = []
    rates = [lr for lr in getattr(sizes, "rates", ()) if math.isfinite(lr) and lr > 0]
    for n in sizes:
        if n > 1:
            big = n > max(SMALL_FACTORS)
            out.append((float(n), str(n), f"{n} is the number of data points: a sum may stand where a mean belongs.", big))
            out.append((1.0 / n, f"1/{n}", f"1/{n} is one over the number of data points: a mean may stand where a sum belongs.", big))
    out.append((2.0, "2", "Is a factor 2 there twice?", False))
    out.append((0.5, "1/2", "A factor of 2 may be missing.", False))
    for lr in rates:
        out.append((lr, _num(lr), f"{_num(lr)} is the learning rate: it may be applied where it does not belong.", False))
        nice = nice_factor(1.0 / lr)
        out.append((1.0 / lr, nice[0] if nice else _num(1.0 / lr),
                    f"That is one over the learning rate ({_num(lr)}): the learning rate may be missing.", False))
    clash = any(_near(lr, 0.01) or _near(lr, 100.0) for lr in rates)  # then 100 is no evidence of a percentage
    out.append((100.0, "100", "A percentage may stand where a share between 0 and 1 belongs.", not clash))
    out.append((0.01, "1/100", "A share between 0 and 1 may stand where a percentage belongs.", not clash))
    for m in SMALL_FACTORS:
        if m != 2:
            out.append((float(m), str(m), f"Look for a factor {m} that does not belong.", False))
            out.append((1.0 / m, f"1/{m}", f"A factor of {m} may be missing.", False))
    return out


def explain_factor(k: float, sizes: list[int], numbers: int = MIN_NUMBERS) -> tuple[str, float, str] | None:
    """A factor a learner can act on: (label, exact value, reason sentence), or None for any other.

    The factors, each also with its sign flipped (then "the sign is flipped too"), in this order:
    - each data size n > 1 of the lesson and 1/n (a sum for a mean, a mean for a sum);
    - 2 and 1/2 (a factor 2 twice, or missing);
    - the lesson's learning rates lr and 1/lr (`sizes.rates`: applied where it does not belong, or missing);
    - 100 and 1/100 (a percentage for a share, a share for a percentage);
    - the small integers 3 and 4 (SMALL_FACTORS: the bound is 4) and their reciprocals.
    -1 alone is `sign_flipped`, handled by the caller. `numbers` is how many independent numbers
    showed the ratio (`_independent`): one number is some multiple of any other, so a ratio needs
    MIN_NUMBERS of them to show a constant factor; from fewer, only the factors chance rarely
    produces are trusted: -1, n or 1/n for a data size n above the small integers (a sum of 400
    values for their mean), and 100 or 1/100. The learning rate, 2, 3, 4 and their reciprocals are not.
    """
    if not math.isfinite(k) or k == 0:
        return None
    ak = abs(k)
    for value, label, reason, single in _factors(sizes):
        if _near(ak, value) and (numbers >= MIN_NUMBERS or single):
            if k < 0:
                return "-" + label, -value, f" The sign is flipped too. {reason}"
            return label, value, f" {reason}"
    return None


def scaled_message(name: str, k: float, sizes: list[int], when: str, numbers: int = MIN_NUMBERS) -> Diagnosis | None:
    """`sign_flipped` for k = -1 (from one number too: an exact sign flip is no chance result), `scaled`
    for a factor `explain_factor` accepts from `numbers` independent numbers, else None (`wrong_value`).
    A k of 1 is no factor at all (the values differ by rounding, or not in proportion): None."""
    if abs(k - 1) <= _MATCH:
        return None
    if abs(k + 1) <= _MATCH:
        return Diagnosis("sign_flipped", f"`{name}` has the right size but the opposite sign{when}.", -1.0)
    found = explain_factor(k, sizes, numbers)
    if found is None:
        return None
    label, value, reason = found
    return Diagnosis("scaled", f"`{name}` is {label} times the expected value{when}.{reason}", float(value))


def compare(name: str, ref: Value, got: Value, *, sizes: list[int], call: int | None = None,
            pairs: list[tuple[Value, Value, int]] | None = None, runs: int | None = None) -> Diagnosis:
    """The diagnosis for a learner value that differs from the reference value; `runs` is how many
    times the blank's line ran (for "from the first time it runs"), None when unknown."""
    when = _when(call, runs)
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
    autograd = _autograd(name, ref, got, call)
    if autograd is not None:
        return autograd
    g, r = got.array, ref.array
    if not np.all(np.isfinite(g)) and np.all(np.isfinite(r)):
        return Diagnosis("nan_or_inf", f"`{name}` contains NaN or infinite values{when}: look for a division by zero or a log of 0.", call=call)
    scale = _scale_of(pairs or [(ref, got, call or 0)])
    d = scaled_message(name, scale[0], sizes, when, scale[1]) if scale is not None else None
    if d is not None:
        d.call = call
        return d
    if r.size == 1:
        detail = f": {_num(float(np.ravel(g)[0]))} instead of {_num(float(np.ravel(r)[0]))}"
    else:
        detail = ""
    return Diagnosis("wrong_value", f"`{name}` does not give the expected value{when}{detail}.", call=call)


def _autograd(name: str, ref: Value, got: Value, call: int | None) -> Diagnosis | None:
    """What later lines rely on beyond the numbers of a tensor: autograd tracking and being a leaf."""
    if ref.type != "Tensor" or got.type != "Tensor":
        return None
    if ref.requires_grad is True and got.requires_grad is False:
        return Diagnosis(
            "wrong_type",
            f"`{name}` holds the right numbers, but autograd does not track it (its requires_grad is False): "
            "backward() will have nothing to differentiate.", call=call)
    if ref.requires_grad is False and got.requires_grad is True:
        return Diagnosis(
            "wrong_type",
            f"`{name}` is tracked by autograd (requires_grad is True) where this step needs a plain tensor.", call=call)
    if ref.is_leaf is True and got.is_leaf is False:
        return Diagnosis(
            "wrong_type",
            f"`{name}` is computed from another tensor, so it is not a leaf of the graph: after backward() its .grad "
            "stays None. Create it directly with requires_grad=True.", call=call)
    if ref.is_leaf is False and got.is_leaf is True and ref.requires_grad:
        return Diagnosis(
            "wrong_type",
            f"`{name}` is cut off from the graph (a leaf) where it should be computed from the tensors before it: "
            "gradients will not flow back through it.", call=call)
    return None


def _flat_children(v: Value) -> list[Value]:
    """A module's layers in the order it applies them: Sequentials inside it flattened."""
    out: list[Value] = []
    for c in v.children:
        out.extend(_flat_children(c) if c.type == "Sequential" else [c])
    return out


def _layer_sizes(name: str, ref: Value, got: Value, call: int | None) -> Diagnosis | None:
    """Layers whose sizes differ from the reference's, or that do not chain: name the sizes."""
    def sizes(v: Value) -> list[tuple[str, object, object]]:
        return [(c.type, c.config.get("in_features"), c.config.get("out_features")) for c in _flat_children(v)]

    gs = sizes(got)
    linear = [(i, a, b) for i, (t, a, b) in enumerate(gs) if a is not None and b is not None]
    for (i, _, out), (j, inp, _) in zip(linear, linear[1:]):
        if out != inp:
            return Diagnosis(
                "shape_mismatch",
                f"`{name}`'s layers do not chain: layer {i + 1} gives {out} features but layer {j + 1} expects {inp}.",
                call=call)
    for k, ((rt, ra, rb), (gt, ga, gb)) in enumerate(zip(sizes(ref), gs)):
        if rt == gt and ra is not None and (ra, rb) != (ga, gb):
            return Diagnosis(
                "shape_mismatch",
                f"`{name}`'s layer {k + 1} maps {ga} to {gb} features where {ra} to {rb} are expected.", call=call)
    return None


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
        if key == "training" and rv != gv and isinstance(gv, bool):
            mode = "evaluation mode (`.eval()`)" if not gv else "training mode"
            return Diagnosis("wrong_type", f"`{name}` is in {mode}, not the mode this step needs: it changes what "
                             "layers like Dropout and BatchNorm compute.", call=call)
        if key in ("in_features", "out_features") and ref.category == "module" and rv != gv:
            sized = _layer_sizes(name, ref, got, call)
            if sized is not None:
                return sized
            return Diagnosis("shape_mismatch", f"`{name}` maps {got.config.get('in_features')} to {got.config.get('out_features')} "
                             f"features where {ref.config.get('in_features')} to {ref.config.get('out_features')} are expected.", call=call)
        if rv != gv and not (isinstance(rv, float) and isinstance(gv, (int, float)) and math.isclose(rv, gv, rel_tol=1e-9)):
            return Diagnosis(
                "wrong_type",
                f"`{name}` is the right kind of {ref.category or 'object'}, but its `{key}` is {gv!r}, not the value this step uses.",
                call=call,
            )
    sized = _layer_sizes(name, ref, got, call) if ref.category == "module" else None
    if sized is not None:
        return sized
    rshapes = [p[1] for p in ref.params]
    gshapes = [p[1] for p in got.params]
    if rshapes != gshapes:
        if ref.category == "optimizer":
            return Diagnosis("wrong_type", f"`{name}` updates different parameters: give it the model's parameters.", call=call)
        return Diagnosis("shape_mismatch", f"`{name}` has parameters of shapes {gshapes} where {rshapes} are expected.", call=call)
    if ref.category == "optimizer":
        return Diagnosis("wrong_type", f"`{name}` updates different tensors than the model's parameters.", call=call)
    rch, gch = _flat_children(ref), _flat_children(got)
    if len(rch) != len(gch):
        return Diagnosis("wrong_type", f"`{name}` has {len(gch)} layers where {len(rch)} are expected.", call=call)
    for rc, gc in zip(rch, gch):
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
    return compare(name, ref, got, sizes=sizes, call=call, pairs=pairs, runs=trace.seen or None)


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
    if rounding_only(ref, got) is not None:
        return Diagnosis(
            "wrong_value",
            f"with your `{name}`, `{expr}` matches the reference run up to rounding, but the lesson leaves no room"
            " for rounding: your answer may well be right; its tolerance is too tight (tell the lesson's author).",
        )
    d = compare(expr, ref, got, sizes=sizes)
    if d.code == "wrong_value":
        d = Diagnosis("wrong_value", f"with your `{name}`, `{expr}` does not match the reference run.")
    else:
        d = Diagnosis(d.code, f"with your `{name}`, " + d.message[0].lower() + d.message[1:], d.factor)
    return d
