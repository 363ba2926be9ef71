"""Runs inside the forked child, after the isolation layers: execute one job and describe what happened.

The program it runs was instrumented by the grader with calls to a few hooks (their names start with
`__tutor_`, which learner code may not mention):

- `__tutor_blank__(i, __tutor_learner__(i, learner_fn), ref_fn)`: shadow evaluation. Evaluates the
  learner's expression, rewinds the random generators, then evaluates the reference expression in
  the same state, compares the two and returns the reference value, so the run follows the
  reference trajectory.
- `__tutor_run__(i, fn)`: evaluates a learner expression in a learner run, marking blank `i` as running
  (and counting, as `seen`, the times it runs; `__tutor_enter__` counts a statement blank's).
- `__tutor_check__(i, __tutor_check_learner__(i, learner_fn), ref_fn)`: a rewritten learner
  expression in the learner's own run: its value carries the run on, and at the calls the shadow run
  would compare (the same sampling) the reference expression is then evaluated in the state the
  learner's started from (RNG rewound) and compared. A disagreement, or a reference that cannot be
  evaluated there, sets slot 1 of the marker to NEED: the worker then starts the shadow run that
  waits on this one (docs/sandbox.md, "after").
- `__tutor_enter__(i)`, `__tutor_exit__(i)`, `__tutor_fail__(i, exc)`: mark a statement blank.
- `__tutor_capture__(label)`: evaluates the job's capture expressions for that label.

Grading integrity: the learner's expression always runs first, so while learner code runs the
reference value of that call does not exist yet and its function has not been made (the program
passes the reference lambda after the learner's call). The learner's value is reduced to plain
numbers (no subclass of theirs can decide how it compares) before the reference is computed. In the
child (`execute(..., seal=True)`), an audit hook refuses every way to a frame (tracebacks',
generators' and coroutines' frames, `sys._getframe`, `gc`'s object walks, tracing, building
functions from code), and the program sees numpy and torch through module views that refuse
modules that are not numpy's or torch's (`torch.os`, `torch.sys`) and private attributes. The AST
policy (policy.py) refuses the same routes with a sentence before anything runs.

Everything is described as JSON-able dicts plus float64 arrays (see docs/sandbox.md); nothing is
pickled. This module never raises for anything the program does.
"""

from __future__ import annotations

import collections
import difflib
import math
import time
from typing import Any

import numpy as np

MAX_FRAMES = 5  # the program's last frames an error reports

from tutor.sandbox.jobs import WRAPPERS
from tutor.sandbox.reach import (  # noqa: F401 - safe_builtins and module_view are part of this module's face
    SEALED_MESSAGE, Seal, _plain, _Unsealed, module_view, safe_builtins,
)
from tutor.sandbox.values import (  # noqa: F401 - re-exported
    MAX_ELEMENTS, MAX_TEXT, Encoder, _as_numbers, _callable_like, _layers, _same_autograd, _short, _stateless, _strip_arrays,
)


# Slot 1 of the marker page: what the learner's own checks concluded (0: nothing yet).
NEED = 2  # a check disagreed or could not be made: the shadow run is needed
CLEAN = 1  # set by the worker's child after an "ok" run that never set NEED
# Slot 2: 1 while a check evaluates the reference's half of a call (`check`), else 0. A run killed
# in a checked blank's own code, every check agreeing, would hang the same way in the shadow run that
# waits on it; killed in the reference's half, it says nothing of the learner's code.
IN_REFERENCE = 2


_NOTHING = object()  # the learner's expression raised: no value


class _MarkerSetter:
    """`marker[0] = i` for a marker object that only has `set` (-1: no blank); other slots are dropped."""

    __slots__ = ("_marker",)

    def __init__(self, marker: Any) -> None:
        self._marker = marker

    def __setitem__(self, key: int, value: int) -> None:
        if key == 0:
            self._marker.set(None if value < 0 else value)


def _decided_by_one(ref: dict, got: dict) -> bool:
    """A differing pair that is not two numeric values (a module or an optimizer of another kind,
    None, a string): its diagnosis reads this first pair alone (diagnose.compare: `_compare_objects`
    and the wrong-type sentences), so comparing later calls would change nothing, and a shadow run
    that judges only such blanks can end here. A value that could not be described (`error`,
    `invalid`) keeps counting: its sentence says from which of the line's runs on."""
    return got.get("kind") not in ("error", "invalid") and (ref.get("kind") != "array" or got.get("kind") != "array")


class _BlankState:
    __slots__ = ("seen", "calls", "matched", "first_mismatch", "pairs", "error", "done", "max_abs", "rtol", "atol", "np_rng",
                 "pending")

    def __init__(self) -> None:
        self.seen = 0  # times the blank's line ran
        self.rtol: float | None = None  # the blank's own tolerances, when the lesson sets them
        self.atol = 0.0
        self.np_rng = False  # rewind numpy's global RNG too (only blanks that draw random numbers)
        self.calls = 0
        self.matched = 0
        self.first_mismatch: int | None = None
        self.pairs: list[list[dict]] = []
        self.error: dict | None = None
        self.done = False
        self.max_abs = 0.0
        # Per call in progress (calls nest when a blank's expression reaches the same blank again):
        # what the learner's half of the hook left for the reference's half.
        self.pending: list[Any] = []


class _Judged(BaseException):
    """Every blank the run is there to judge is judged: the run ends here, as a run that went well."""


class Runtime:
    """The hooks an instrumented program calls, and what they recorded."""

    def __init__(self, job: dict, modules: dict[str, Any], marker: Any) -> None:
        # Only what the hooks need: never the program's source, whose text holds the reference answers.
        self.capture_exprs = job.get("captures") or {}
        self.trusted: Any = _Unsealed
        self.filename = job.get("filename", "<lesson>")
        self.marker = marker
        # The hooks set the marker on every blank call: through the shared page's memoryview when the
        # marker has one (the worker's does), else through marker.set.
        self.mark = getattr(marker, "view", None) or _MarkerSetter(marker)
        self.modules = modules
        self.enc = Encoder()
        # Shadow evaluation rewinds torch's RNG only for programs that can reach torch.
        self.torch = modules.get("torch") if "torch" in (job.get("names") or []) else None
        self.specs = list(job.get("blanks") or [])
        self.states: dict[int, _BlankState] = {}
        self.max_pairs = int(job.get("max_pairs", 8))
        # Sampling: after `shadow_sample_after` matching calls, compare one call in `shadow_sample_every`.
        sa, se = job.get("shadow_sample_after"), job.get("shadow_sample_every")
        self.sample_after = sa if isinstance(sa, int) and sa >= 1 else None
        self.sample_every = se if isinstance(se, int) and se >= 1 else 1
        self.captures: dict[str, dict[str, dict]] = {}
        self.failed_blank: int | None = None
        self.need = False  # a learner-run check disagreed or could not be made
        # Early ends (Job.stop_when_judged, Job.stop_at_disagreement): what is left of the run would
        # not change what it was run to tell.
        self.judge = {i for i in (job.get("stop_when_judged") or []) if isinstance(i, int)}
        self.stop_at_disagreement = job.get("stop_at_disagreement") is True
        self.once = {i for i in (job.get("once") or []) if isinstance(i, int)}  # judged by their one call
        self.decisive = {i for i in (job.get("decisive") or []) if isinstance(i, int)}  # at the first call: no shadow run
        # A reference run: at these blanks' first call, would `-value` and `2 * value` pass? (_wrappers)
        self.probe = {i for i in (job.get("probe_wrappers") or []) if isinstance(i, int)}
        self.wrapped: dict[int, dict[str, str]] = {}
        self.stopped = False
        self.namespace: dict[str, Any] = {}

    # ---- hooks -------------------------------------------------------------------------------
    def _state(self, i: int) -> _BlankState:
        st = self.states.get(i)
        if st is None:
            st = self.states[i] = self._new_state(i)
        return st

    def _new_state(self, i: int) -> _BlankState:
        st = _BlankState()
        spec = self._spec(i)
        if isinstance(spec.get("rtol"), (int, float)):
            st.rtol = float(spec["rtol"])
        if isinstance(spec.get("atol"), (int, float)):
            st.atol = float(spec["atol"])
        st.np_rng = spec.get("numpy_rng") is True
        return st

    def _spec(self, i: int) -> dict:
        return self.specs[i] if 0 <= i < len(self.specs) and isinstance(self.specs[i], dict) else {}

    def _rng_state(self, np_rng: bool) -> tuple[Any, Any]:
        torch = self.torch
        return (torch.get_rng_state() if torch is not None else None, np.random.get_state() if np_rng else None)

    def _set_rng_state(self, state: tuple[Any, Any]) -> None:
        if state[0] is not None:
            self.torch.set_rng_state(state[0])
        if state[1] is not None:
            np.random.set_state(state[1])

    def learner(self, i: int, learner_fn: Any) -> None:
        """Shadow run, first half: the learner's expression in the reference's state, before the
        reference's value exists; the generators are rewound after it so the reference draws the same."""
        st = self._state(i)
        if st.done:
            st.pending.append(None)
            return None
        seen = st.seen
        st.seen += 1
        if self._sampled_out(st, seen):
            st.pending.append(None)  # sampled: matched on every call so far; the learner's full run checks the rest
            return None
        before = self._rng_state(st.np_rng)
        self.mark[0] = i
        try:
            got = _plain(learner_fn(), self.enc._torch)
        except BaseException as exc:  # noqa: BLE001 - the learner's error is a result
            st.error = self.describe_error(exc, blank=i, call=seen)
            st.done = True
            st.pending.append(None)
            got = _NOTHING
        finally:
            self.mark[0] = -1
            self._set_rng_state(before)
        if got is _NOTHING:
            self._stop_if_judged()
            return None
        st.pending.append((seen, got))
        return None

    def blank(self, i: int, _learner: Any, ref_fn: Any) -> Any:
        """Shadow run, second half: the reference's value, compared with the learner's, carries the run on."""
        st = self._state(i)
        entry = st.pending.pop() if st.pending else None
        ref = ref_fn()
        if entry is not None:
            self._record(i, st, ref, entry[1], entry[0])
            if st.done:
                self._stop_if_judged()
        return ref

    def _stop_if_judged(self) -> None:
        """End the run once every blank it judges has its verdict's worth of differing calls or an error."""
        if self.judge and all(j in self.states and self.states[j].done for j in self.judge):
            self.stopped = True
            raise _Judged()

    def _sampled_out(self, st: _BlankState, seen: int) -> bool:
        """Call `seen` goes uncompared: after `sample_after` agreeing calls, only one in `sample_every` is."""
        after = self.sample_after
        return after is not None and seen >= after and st.first_mismatch is None and bool((seen - after) % self.sample_every)

    def _record(self, i: int, st: _BlankState, ref: Any, got: Any, call: int) -> bool:
        """Compare one call's values and keep what a diagnosis needs; True when they agree."""
        st.calls += 1
        try:
            same = self.same(i, st, ref, got)
        except Exception:  # noqa: BLE001 - comparing hostile objects
            same = False
        if same:
            st.matched += 1
        else:
            if st.first_mismatch is None:
                st.first_mismatch = call
            pair = [self.enc.value(ref), self.enc.value(got), {"call": call}]
            st.pairs.append(pair)
            if len(st.pairs) >= self.max_pairs or _decided_by_one(pair[0], pair[1]):
                st.done = True
        if i in self.once:
            st.done = True  # the program never reaches it again: its one call is its verdict
        return same

    def check_learner(self, i: int, learner_fn: Any) -> Any:
        """Learner run, first half: the learner's own value (it carries the run on); at a compared call
        the generators' states before and after it are kept for the reference's half."""
        st = self._state(i)
        seen = st.seen
        st.seen += 1
        if st.done or self._sampled_out(st, seen):
            got = self.run(i, learner_fn)
            st.pending.append(None)
            return got
        before = self._rng_state(st.np_rng)
        got = self.run(i, learner_fn)
        st.pending.append((seen, before, self._rng_state(st.np_rng), _plain(got, self.enc._torch)))
        return got

    def check(self, i: int, got: Any, ref_fn: Any) -> Any:
        """Learner run, second half: the reference expression in the state the learner's started from."""
        st = self._state(i)
        entry = st.pending.pop() if st.pending else None
        if entry is None:
            return got
        seen, before, after, plain = entry
        self._set_rng_state(before)
        self.mark[0] = i  # the reference expression runs on the learner's state: it may be what hangs
        self.mark[IN_REFERENCE] = 1  # (but then not in the learner's own code: the worker tells them apart)
        try:
            ref = ref_fn()
            have_ref = True
        except BaseException:  # noqa: BLE001 - the learner's state may not suit it: the shadow run decides
            ref, have_ref = None, False
        self.mark[0] = -1
        self.mark[IN_REFERENCE] = 0
        self._set_rng_state(after)
        if not have_ref or not self._record(i, st, ref, plain, seen):
            if not (have_ref and i in self.decisive and seen == 0):
                self._need()  # the shadow run compares it in the reference's own state
            if self.stop_at_disagreement:
                self.stopped = True
                raise _Judged()
        return got

    def _need(self) -> None:
        if not self.need:
            self.need = True
            try:
                self.mark[1] = NEED
            except (IndexError, TypeError, ValueError):
                pass

    def run(self, i: int, fn: Any) -> Any:
        mark = self.mark
        mark[0] = i
        try:
            value = fn()
        except BaseException:
            if self.failed_blank is None:
                self.failed_blank = i
            raise
        mark[0] = -1
        return value

    def run_marked(self, i: int, fn: Any) -> Any:
        """`__tutor_run__`: a learner expression in a learner run; counts the times its line runs."""
        st = self._state(i)
        st.seen += 1
        value = self.run(i, fn)
        if i in self.probe and i not in self.wrapped:
            self.wrapped[i] = self._wrappers(i, value)
        return value

    def _wrappers(self, i: int, value: Any) -> dict[str, str]:
        """`tutor check`'s "flipped sign" and "doubled" mutants of blank `i` (`-(answer)`, `2 * (answer)`),
        judged here, in the reference run, at the blank's first call: "differs" when the learner's run
        of that mutant would disagree with the reference there (the same comparison, from the same
        state: up to that call the mutant's program is the reference's), which is its verdict; else
        "same". Only for plain numbers, numpy arrays and torch tensors, whose negation and doubling run
        no program code; nothing for other values, or when the operation fails (the mutant is then
        graded as any other)."""
        t = type(value)
        torch = self.torch
        if not (t in (int, float, np.ndarray) or isinstance(value, np.generic)
                or (torch is not None and t in (torch.Tensor, torch.nn.Parameter))):
            return {}
        out: dict[str, str] = {}
        for name, op in WRAPPERS.items():
            try:
                got = _plain(op(value), torch)
                out[name] = "same" if self.same(i, self._new_state(i), value, got) else "differs"
            except Exception:  # noqa: BLE001 - e.g. negating a bool tensor: not judged here
                continue
        return out

    def enter(self, i: int) -> None:
        self._state(i).seen += 1  # how often a statement blank runs (`tutor check`: a blank that never runs)
        self.mark[0] = i

    def exit(self, i: int) -> None:
        self.mark[0] = -1

    def fail(self, i: int, exc: BaseException) -> None:
        if self.failed_blank is None:
            self.failed_blank = i

    def capture(self, label: str) -> None:
        exprs = self.capture_exprs.get(str(label)) or [] if isinstance(self.capture_exprs, dict) else []
        out: dict[str, dict] = {}
        for expr in exprs:
            try:
                val = eval(expr, self.namespace)  # instructor-written expression, in the child
            except BaseException as exc:  # noqa: BLE001
                out[expr] = {"kind": "error", "message": _short(f"{type(exc).__name__}: {exc}")}
                continue
            out[expr] = self.enc.value(val)
        self.captures[str(label)] = out

    # ---- comparison ----------------------------------------------------------------------------
    def same(self, i: int, st: _BlankState, ref: Any, got: Any) -> bool:
        """True when the learner's value equals the reference's within the blank's tolerance."""
        tr = type(ref)
        if tr is type(got) and (tr is float or tr is np.float64):
            # The hot path of numpy lessons: two float64 scalars, every iteration.
            r, l = float(ref), float(got)
            a = abs(r)
            if a > st.max_abs and a != math.inf:
                st.max_abs = a
            rtol = 1e-6 if st.rtol is None else st.rtol
            if r != r or l != l:
                return r != r and l != l
            if a == math.inf or abs(l) == math.inf:
                return r == l
            return abs(r - l) <= max(st.atol, rtol * st.max_abs, 1e-12) + rtol * a
        if ref is None or got is None:
            return ref is got
        fam_r, a_r, dt_r, sh_r = _as_numbers(self.enc, ref)
        fam_l, a_l, dt_l, sh_l = _as_numbers(self.enc, got)
        if fam_r == "other" or fam_l == "other":
            return self._same_object(ref, got)
        if fam_r != fam_l:
            return False
        if sh_r != sh_l:
            return False
        if fam_r in ("tensor", "ndarray") and dt_r != dt_l:
            return False
        if fam_r == "tensor" and not _same_autograd(ref, got):
            return False
        low = "float32" in (dt_r, dt_l) or "float16" in (dt_r, dt_l) or "bfloat16" in (dt_r + dt_l)
        rtol = st.rtol if st.rtol is not None else (1e-4 if low else 1e-6)
        atol = st.atol
        if a_r.ndim == 0:
            r, l = float(a_r), float(a_l)
            a = abs(r)
            if a > st.max_abs and a != math.inf:
                st.max_abs = a
            atol = max(atol, rtol * st.max_abs, 1e-12)
            if r != r or l != l:
                return r != r and l != l
            if a == math.inf or abs(l) == math.inf:
                return r == l
            return abs(r - l) <= atol + rtol * a
        # Arrays: np.allclose's rule (|learner - reference| <= atol + rtol * |reference|, NaNs equal,
        # infinities equal when the same), without its per-call overhead: this runs on every compared call.
        abs_r = np.abs(a_r)
        if abs_r.size:
            top = float(abs_r.max())
            if top != top or top == math.inf:
                finite = abs_r[np.isfinite(abs_r)]
                top = float(finite.max()) if finite.size else 0.0
            if top > st.max_abs:
                st.max_abs = top
        atol = max(atol, rtol * st.max_abs, 1e-12)
        with np.errstate(invalid="ignore", over="ignore"):
            close = np.abs(a_l - a_r) <= atol + rtol * abs_r
            if close.all():
                return True
            off = ~close
            l_off, r_off = a_l[off], a_r[off]
            return bool(np.all((np.isnan(l_off) & np.isnan(r_off)) | (l_off == r_off)))

    def _same_object(self, ref: Any, got: Any) -> bool:
        torch = self.torch
        if torch is not None and isinstance(ref, torch.nn.Module) and _stateless(ref, torch) and _callable_like(got, torch):
            # `F.mse_loss` for `nn.MSELoss()`, `torch.sigmoid` for `nn.Sigmoid()`: what they compute
            # shows only when called, so the learner's run judges it (its captures, then isolation).
            return True
        if torch is not None and isinstance(ref, torch.nn.Module) and isinstance(got, torch.nn.Module):
            # Modules are compared by what they compute: nested Sequentials flattened, layers in order.
            lr, lg = _layers(ref, torch), _layers(got, torch)
            if len(lr) != len(lg) or any(type(a) is not type(b) for a, b in zip(lr, lg)):
                return False
            if not self._same_module(ref, got):
                return False
            return all(_strip_arrays(self.enc._module(a, 0)) == _strip_arrays(self.enc._module(b, 0)) for a, b in zip(lr, lg))
        if type(ref) is not type(got):
            return False
        if torch is not None and isinstance(ref, torch.optim.Optimizer):
            a, b = self.enc._optimizer(ref), self.enc._optimizer(got)
            ids_r = [id(p) for g in ref.param_groups for p in g["params"]]
            ids_l = [id(p) for g in got.param_groups for p in g["params"]]
            return a["config"] == b["config"] and ids_r == ids_l
        try:
            return bool(ref == got)
        except Exception:  # noqa: BLE001
            return False

    def _same_module(self, ref: Any, got: Any) -> bool:
        pr = list(ref.parameters())
        pl = list(got.parameters())
        if len(pr) != len(pl):
            return False
        for p, q in zip(pr, pl):
            if p.shape != q.shape or p.dtype != q.dtype:
                return False
            if not bool((p.detach() - q.detach()).abs().max() <= 1e-6 + 1e-5 * p.detach().abs().max()):
                return False
        return True

    # ---- errors --------------------------------------------------------------------------------
    def describe_error(self, exc: BaseException, blank: int | None = None, call: int | None = None) -> dict:
        with self.trusted():
            return self._describe_error(exc, blank, call)

    def _describe_error(self, exc: BaseException, blank: int | None, call: int | None) -> dict:
        line = None
        # The program's last frames (innermost last), for the traceback the learner sees: a hook's
        # `lambda` on the line of the frame before it adds nothing and is left out.
        frames: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_FRAMES)
        depth = 0
        tb = exc.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            if code.co_filename == self.filename:
                line = tb.tb_lineno
                function = _short(getattr(code, "co_qualname", code.co_name), 80)  # a learner's name: any length
                if not (function.endswith("<lambda>") and frames and frames[-1]["line"] == line):
                    frames.append({"line": line, "function": function})
                    depth += 1
            tb = tb.tb_next
        if isinstance(exc, SyntaxError) and exc.filename == self.filename:
            line = exc.lineno
        err: dict[str, Any] = {
            "type": _short(type(exc).__name__, 80),  # a class of the learner's may have any name
            "message": _short(str(exc), 600),
            "line": line,
            "blank": blank,
            "call": call,
            "name": None,
            "suggest": [],
            "frames": list(frames),
            "depth": depth,
        }
        try:
            if isinstance(exc, NameError) and isinstance(getattr(exc, "name", None), str):
                err["name"] = _short(exc.name, 80)
                err["suggest"] = [_short(n, 80) for n in self._suggest_name(exc.name)]
            elif isinstance(exc, AttributeError) and isinstance(getattr(exc, "name", None), str):
                err["name"] = _short(exc.name, 80)
                obj = getattr(exc, "obj", None)
                if obj is not None:
                    names = [n for n in dir(obj) if not n.startswith("_")]
                    err["suggest"] = [_short(n, 80) for n in difflib.get_close_matches(exc.name, names, n=3)]
        except Exception:  # noqa: BLE001
            pass
        return err

    def _suggest_name(self, name: str) -> list[str]:
        out = []
        for alias in ("np", "torch", "F", "nn", "optim"):
            mod = self.modules.get(alias)
            if mod is not None and not name.startswith("_") and hasattr(mod, name):
                out.append(f"{alias}.{name}")
        if not out:
            known = [n for n in self.namespace if not n.startswith("__")]
            out = difflib.get_close_matches(name, known, n=3)
        return out[:3]

    # ---- result -------------------------------------------------------------------------------
    def header(self, status: str, error: dict | None, wall: float) -> dict:
        blanks = {}
        for i, st in self.states.items():
            blanks[str(i)] = {
                "calls": st.calls,
                "seen": st.seen,
                "matched": st.matched,
                "first_mismatch": st.first_mismatch,
                "pairs": st.pairs,
                "error": st.error,
                **({"wrapped": self.wrapped[i]} if self.wrapped.get(i) else {}),
            }
        return {
            "status": status,
            "error": error,
            "captures": self.captures,
            "blanks": blanks,
            "failed_blank": self.failed_blank,
            "wall": wall,
            **({"stopped": True} if self.stopped else {}),
        }


def execute(job: dict, modules: dict[str, Any], data: dict[str, Any], marker: Any, *, seal: bool = False) -> tuple[dict, list]:
    """Run `job["source"]` with `modules` and `data` in its namespace; return (header, arrays).

    `marker.set(i)` records which blank is running (None when none). With `seal` (the sandboxed child,
    which runs one program and exits) the audit hook goes on before the program runs. Never raises
    for anything the program does: exceptions become header["status"] == "error" with header["error"].
    """
    rt = Runtime(job, modules, marker)
    ns: dict[str, Any] = {"__name__": "__lesson__", "__builtins__": safe_builtins()}
    for alias in job.get("names") or []:
        if alias in modules:
            ns[alias] = module_view(modules[alias])
    ns.update(data)
    ns["__tutor_blank__"] = rt.blank
    ns["__tutor_learner__"] = rt.learner
    ns["__tutor_run__"] = rt.run_marked
    ns["__tutor_check__"] = rt.check
    ns["__tutor_check_learner__"] = rt.check_learner
    ns["__tutor_enter__"] = rt.enter
    ns["__tutor_exit__"] = rt.exit
    ns["__tutor_fail__"] = rt.fail
    ns["__tutor_capture__"] = rt.capture
    rt.namespace = ns
    status, error = "ok", None
    try:
        code = compile(job["source"], rt.filename, "exec")
    except BaseException as exc:  # noqa: BLE001 - a program that does not compile is a result
        code, status, error = None, "error", rt.describe_error(exc)
    if seal:
        job.pop("source", None)  # the text of the reference answers stays out of the child's reach
        rt.trusted = Seal(rt.filename).trusted
    start = time.perf_counter()
    if code is not None:
        try:
            exec(code, ns)
        except _Judged:
            pass  # ended early, on purpose: a run that went well as far as it needed to go
        except BaseException as exc:  # noqa: BLE001 - anything the program raises is a result
            status = "error"
            error = rt.describe_error(exc, blank=rt.failed_blank)
        del code
    wall = time.perf_counter() - start
    try:
        return rt.header(status, error, wall), rt.enc.arrays
    except Exception as exc:  # noqa: BLE001 - a value that cannot be described
        return {"status": "error", "error": {"type": _short(type(exc).__name__, 80), "message": _short(str(exc))}}, []
