"""Charts of a run beside the reference run, as plain data, and how to draw them with plotext.

No Textual here (a test enforces it): `figures()` turns a lesson's `[charts]` tables and the values a
run captured into `Figure`s (plain lists of numbers, labels, notes); `draw()` puts one figure on any
plotext-like object (`plotext` itself, or `textual_plotext`'s `plt`). The app's one plot widget calls
`draw`; tests call it on plotext directly.

Charts a lesson can ask for (docs/authoring.md), one `Figure` each:

- `loss = "EXPR"`: the loss per epoch, the learner's beside the reference's.
- `fit = { x, y, line }`: the data as points, the learner's fitted line and the reference's.
- `epochs = { x, y, w, b, at = [1, 200, ...] }`: the line `w * x + b` after chosen epochs (1-based),
  the learner's and the reference's, over the data; the app steps through `at`.
- `accuracy = "EXPR"`: accuracy per epoch (a list) or at the end (a number), both runs.
- `probability = { x, y, prob, correct }`: a 1-feature classifier: the labelled points, the predicted
  probability curve of both runs, the 0.5 threshold, and (optional `correct`, 0/1 per point) the
  points classified right.
- `boundary = { x, y, w, b }`: a 2-feature linear classifier: the points of each class (x has two
  columns) and the line `w[0] x0 + w[1] x1 + b = 0` of both runs.

Decisions, written down:

- A log scale is drawn by taking log10 of the values and labelling the ticks with powers of ten, not
  with plotext's log axis (which cannot be relabelled and breaks on non-positive values). It is used
  when every value is positive and they span at least one and a half decades (`LOG_SPAN`, a ratio of 30).
- Values that are not finite (a diverging run) are left out of the curve and said in a note with the
  epoch where they start; a missing capture (the run failed) draws the reference alone, with a note.
- Colours are the terminal's named ANSI colours, so they follow its palette and the app's theme:
  the reference `green`, the learner `magenta`, the data `blue` (`COLORS`).
- Lines are drawn with braille dots (the sharpest marker plotext has); data points with `dot`; a
  quantity known only at the end (a final accuracy) as one bar per run.
- Data series are thinned to at most `MAX_POINTS` points so a chart draws in a few milliseconds.
- Charts of the data keep the y axis on the data (`Figure.ylim`, a 25% margin): a learner's line far
  off is clamped to the edge and a note gives the value it reached, so the data stays readable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

LOG_SPAN = 30.0  # max/min ratio (about 1.5 decades) from which losses are drawn on a log scale
MAX_POINTS = 400
COLORS = {
    "reference": "green", "learner": "magenta", "data": "blue", "class0": "blue", "class1": "red",
    "threshold": "yellow", "correct": "cyan",
}
MARKERS = {"line": "braille", "points": "dot"}
KNOWN = ("loss", "fit", "epochs", "accuracy", "probability", "boundary")


@dataclass
class Series:
    """One curve or cloud of points; `role` picks its colour (learner, reference, data, class0/1)."""

    label: str
    x: list[float]
    y: list[float]
    role: str
    style: str = "line"  # "line", "points", or "bar" (one value per series, drawn side by side)


@dataclass
class Figure:
    """A chart ready to draw: series, titles, ticks (for log scales) and notes for the learner."""

    kind: str
    title: str
    series: list[Series] = field(default_factory=list)
    xlabel: str = ""
    ylabel: str = ""
    log_y: bool = False
    yticks: tuple[list[float], list[str]] | None = None
    xticks: tuple[list[float], list[str]] | None = None
    ylim: tuple[float, float] | None = None  # the data's range: a wild line must not hide the data
    notes: list[str] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)  # for "epochs": the epochs one can step through
    epoch: int | None = None  # for "epochs": the epoch drawn

    @property
    def empty(self) -> bool:
        return not any(s.x for s in self.series)


@dataclass(frozen=True)
class ChartSpec:
    """One chart a lesson asks for: the step whose captures it draws, its kind and its table."""

    step: int
    kind: str
    spec: Any

    @property
    def key(self) -> str:
        return f"{self.step}:{self.kind}"


def chart_specs(lesson: Any) -> list[ChartSpec]:
    """The charts a lesson asks for, in step order, known kinds only."""
    out = []
    for s, step in enumerate(lesson.steps):
        for kind, spec in step.charts.items():
            if kind in KNOWN:
                out.append(ChartSpec(s, kind, spec))
    return out


# ---- a check's charts, kept ------------------------------------------------------------------

RECORD_NUMBERS = 200_000  # numbers of captured values kept per check (both runs); larger values are dropped
RECORD_TEXT = 64 * 1024  # characters of output and error kept


def _spec_exprs(spec: Any) -> list[str]:
    if isinstance(spec, str):
        return [spec]
    if isinstance(spec, Mapping):
        return [v for v in spec.values() if isinstance(v, str)]
    return []


def run_record(lesson: Any, learner: Mapping[str, Any] | None, reference: Mapping[str, Any] | None,
               stdout: str = "", error: str | None = None, reason: str | None = None) -> dict[str, Any]:
    """What a check's charts and output panel draw, as JSON-ready data (the progress store keeps it, so a
    reopened lesson shows its charts without a run): the values the lesson's charts name, as lists of
    numbers, at most `RECORD_NUMBERS` in all; the output and error cut to `RECORD_TEXT`."""
    budget = [RECORD_NUMBERS]

    def keep(captures: Mapping[str, Any] | None) -> dict[str, dict[str, Any]] | None:
        if not captures:
            return None
        out: dict[str, dict[str, Any]] = {}
        for spec in chart_specs(lesson):
            for expr in _spec_exprs(spec.spec):
                arr = _get(captures, spec.step, expr)
                step = out.setdefault(str(spec.step), {})
                if arr is None or expr in step or arr.size > budget[0]:
                    continue
                budget[0] -= arr.size
                step[expr] = arr.tolist()
        return out

    return {"learner": keep(learner), "reference": keep(reference), "stdout": (stdout or "")[-RECORD_TEXT:],
            "error": error[-RECORD_TEXT:] if isinstance(error, str) else None,
            "reason": reason if isinstance(reason, str) else None}


def restore_run(record: Mapping[str, Any]) -> dict[str, Any]:
    """`run_record`'s data back as the chart panel's inputs: {"learner", "reference"} captures of float
    arrays (or None), "stdout", "error", "reason". Anything malformed is left out, never raised."""

    def captures(value: Any) -> dict[str, dict[str, np.ndarray]] | None:
        if not isinstance(value, Mapping):
            return None
        out: dict[str, dict[str, np.ndarray]] = {}
        for step, values in value.items():
            if isinstance(values, Mapping):
                arrays = {str(k): a for k, v in values.items() if (a := as_array(v)) is not None}
                out[str(step)] = arrays
        return out or None

    def text(value: Any) -> str | None:
        return value[:RECORD_TEXT] if isinstance(value, str) else None

    return {"learner": captures(record.get("learner")), "reference": captures(record.get("reference")),
            "stdout": text(record.get("stdout")) or "", "error": text(record.get("error")), "reason": text(record.get("reason"))}


# ---- values ---------------------------------------------------------------------------------


def as_array(value: Any) -> np.ndarray | None:
    """A captured value (a sandbox `Value`, an array, a list, a number) as float64, or None."""
    if value is None:
        return None
    if hasattr(value, "kind") and hasattr(value, "array"):
        if value.kind != "array" or value.array is None:
            return None
        value = value.array
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr


def _get(captures: Mapping[str, Any] | None, step: int, expr: Any) -> np.ndarray | None:
    if not captures or not isinstance(expr, str):
        return None
    values = captures.get(str(step))
    if not isinstance(values, Mapping):
        return None
    return as_array(values.get(expr))


def _expr(spec: Any, *keys: str) -> Any:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, Mapping):
        for k in keys:
            if k in spec:
                return spec[k]
    return None


def _thin(x: np.ndarray, y: np.ndarray, limit: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= limit:
        return x, y
    idx = np.linspace(0, len(x) - 1, limit).round().astype(int)
    return x[idx], y[idx]


def _finite_prefix(values: np.ndarray) -> tuple[np.ndarray, int | None]:
    """The values up to the first non-finite one, and that epoch (1-based) if there is one."""
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size == 0:
        return values, None
    return values[: bad[0]], int(bad[0]) + 1


def fmt(x: float) -> str:
    """A number as short as it can be read: 3, 0.25, 1.5e-05, 2.4e+12."""
    if x == 0 or not math.isfinite(x):
        return str(x)
    if abs(x) >= 1e5 or abs(x) < 1e-3:
        return f"{x:.2g}"
    return f"{x:.4g}"


def wants_log(*series: np.ndarray) -> bool:
    """Whether values span enough decades (all positive) to read better on a log scale."""
    vals = [s[np.isfinite(s)] for s in series if s is not None and s.size]
    vals = [v for v in vals if v.size]
    if not vals:
        return False
    allv = np.concatenate(vals)
    if np.any(allv <= 0):
        return False
    return float(allv.max()) / float(allv.min()) >= LOG_SPAN


def log_ticks(low: float, high: float, most: int = 6) -> tuple[list[float], list[str]]:
    """Tick positions (log10 values) at whole decades between low and high, labelled 1e-2, 1e+3..."""
    lo, hi = math.floor(low), math.ceil(high)
    span = max(hi - lo, 1)
    step = max(1, math.ceil(span / (most - 1)))
    ticks = list(range(lo, hi + 1, step))
    return [float(t) for t in ticks], [_decade(t) for t in ticks]


def epoch_ticks(n: int, most: int = 5) -> tuple[list[float], list[str]] | None:
    """Whole-number epoch ticks: 1, then round numbers up to n (1, 250, 500, 750, 1000)."""
    if n < 2:
        return None
    raw = n / (most - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    step = max(1, int(step))
    ticks = [1] + [t for t in range(step, n + 1, step) if t > 1]
    return [float(t) for t in ticks], [str(t) for t in ticks]


def _clip_to_data(fig: Figure, data: Series, role_lines: list[Series]) -> None:
    """Keep the y axis on the data (with a margin); say so when the learner's line leaves it."""
    if not data.y:
        return
    lo, hi = min(data.y), max(data.y)
    margin = 0.25 * (hi - lo or abs(hi) or 1.0)
    fig.ylim = (lo - margin, hi + margin)
    for s in role_lines:
        if s.y and (min(s.y) < fig.ylim[0] or max(s.y) > fig.ylim[1]):
            # The value that goes furthest outside the data's range (not the largest in size: with
            # data at -100..-90, a line reaching -80 runs off the top though -95 is larger).
            far = max(s.y, key=lambda v: -math.inf if v != v else max(lo - v, v - hi))
            if s.role == "learner":
                fig.notes.append(f"Your line runs off the chart: it reaches {fmt(far)} where the data stays within {fmt(lo)}..{fmt(hi)}.")
            # Clamped here: plotext fills every cell between two points, so a point far outside the
            # limits would make it draw (and allocate) millions of invisible cells.
            s.y = np.clip(np.asarray(s.y), *fig.ylim).tolist()


def _decade(k: int) -> str:
    if 0 <= k <= 3:
        return str(10**k)
    return f"1e{k:+d}" if k > 0 else f"1e{k}"


# ---- figures --------------------------------------------------------------------------------


def figures(
    lesson: Any,
    learner: Mapping[str, Any] | None,
    reference: Mapping[str, Any] | None,
    *,
    epochs: Mapping[str, int] | None = None,
) -> list[Figure]:
    """Every chart of a lesson for a learner run and the reference run (captures by step index).

    `epochs` maps a ChartSpec key of an `epochs` chart to the epoch to draw (default: the first).
    """
    out = []
    for spec in chart_specs(lesson):
        out.append(figure(spec, learner, reference, epoch=(epochs or {}).get(spec.key)))
    return out


def figure(spec: ChartSpec, learner: Mapping[str, Any] | None, reference: Mapping[str, Any] | None,
           *, epoch: int | None = None) -> Figure:
    """One chart; learner or reference captures may be None (no run yet, or the run failed)."""
    if spec.kind == "epochs":
        return _epochs(spec, learner, reference, epoch)
    build = {"loss": _loss, "fit": _fit, "accuracy": _accuracy, "probability": _probability, "boundary": _boundary}
    return build[spec.kind](spec, learner, reference)


def _runs(learner: Any, reference: Any) -> list[tuple[str, str, Any]]:
    return [("reference", "reference", reference), ("learner", "yours", learner)]


def _loss(spec: ChartSpec, learner: Any, reference: Any) -> Figure:
    expr = _expr(spec.spec, "y", "values", "loss")
    fig = Figure("loss", "Loss per epoch", xlabel="epoch", ylabel="loss")
    curves: list[tuple[str, str, np.ndarray]] = []
    for role, label, caps in _runs(learner, reference):
        values = _get(caps, spec.step, expr)
        if values is None:
            if role == "learner" and learner is not None:
                fig.notes.append("Your run left no loss to draw.")
            continue
        values = values.ravel()
        finite, bad_at = _finite_prefix(values)
        if bad_at is not None:
            who = "Your" if role == "learner" else "The reference"
            fig.notes.append(f"{who} loss is not a finite number from epoch {bad_at} on: the run diverged.")
        curves.append((role, label, finite))
    scale = spec.spec.get("scale") if isinstance(spec.spec, Mapping) else None
    fig.log_y = scale == "log" or (scale != "linear" and wants_log(*(c for _, _, c in curves)))
    if fig.log_y:
        curves = [(r, l, c[c > 0]) if np.any(c <= 0) else (r, l, c) for r, l, c in curves]
    for role, label, values in curves:
        if not values.size:
            continue
        x = np.arange(1, values.size + 1, dtype=np.float64)
        y = np.log10(values) if fig.log_y else values
        x, y = _thin(x, y, 1000)
        fig.series.append(Series(label, x.tolist(), y.tolist(), role))
    if fig.log_y and fig.series:
        ys = [v for s in fig.series for v in s.y]
        lo, hi = math.floor(min(ys)), math.ceil(max(ys))
        hi = hi if hi > lo else lo + 1
        fig.yticks = log_ticks(lo, hi)
        fig.ylim = (float(lo), float(hi))  # whole decades, so every tick lies inside the plot
        fig.ylabel = "loss (log scale)"
    fig.xticks = epoch_ticks(max((len(c) for _, _, c in curves), default=0))
    _loss_summary(fig, curves)
    return fig


def _loss_summary(fig: Figure, curves: list[tuple[str, str, np.ndarray]]) -> None:
    last = {role: c[-1] for role, _, c in curves if c.size}
    if "learner" in last and "reference" in last:
        fig.title = f"Loss per epoch: yours ends at {fmt(float(last['learner']))}, the reference at {fmt(float(last['reference']))}"
    elif "reference" in last:
        fig.title = f"Loss per epoch: the reference ends at {fmt(float(last['reference']))}"


def _line_order(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(x, kind="stable")
    return x[order], y[order]


def _data_series(spec: ChartSpec, caps: Any) -> tuple[np.ndarray | None, Series | None]:
    x = _get(caps, spec.step, _expr(spec.spec, "x"))
    y = _get(caps, spec.step, _expr(spec.spec, "y"))
    if x is None or y is None or x.size != y.size or x.size == 0:
        return None, None
    x, y = x.ravel(), y.ravel()
    keep = np.isfinite(x) & np.isfinite(y)
    tx, ty = _thin(x[keep], y[keep])
    return x, Series("data", tx.tolist(), ty.tolist(), "data", "points")


def _fit(spec: ChartSpec, learner: Any, reference: Any) -> Figure:
    fig = Figure("fit", "The data and the fitted line", xlabel="x", ylabel="y")
    x, data = _data_series(spec, reference or learner)
    if data is None:
        fig.notes.append("There is no data to draw yet.")
        return fig
    fig.series.append(data)
    for role, label, caps in _runs(learner, reference):
        line = _get(caps, spec.step, _expr(spec.spec, "line"))
        if line is None or line.size != x.size:
            if role == "learner" and learner is not None:
                fig.notes.append("Your run left no fitted line to draw.")
            continue
        lx, ly = _line_order(x, line.ravel())
        keep = np.isfinite(ly)
        if not np.all(keep) and role == "learner":
            fig.notes.append("Some of your predictions are not finite numbers (inf or NaN).")
        lx, ly = _thin(lx[keep], ly[keep])
        fig.series.append(Series(label, lx.tolist(), ly.tolist(), role))
    _clip_to_data(fig, data, fig.series[1:])
    return fig


def _epochs(spec: ChartSpec, learner: Any, reference: Any, epoch: int | None) -> Figure:
    at = [int(a) for a in (spec.spec.get("at") or []) if isinstance(a, (int, float))] if isinstance(spec.spec, Mapping) else []
    ref_w = _get(reference, spec.step, _expr(spec.spec, "w"))
    total = int(ref_w.size) if ref_w is not None else 0
    if not at:
        at = sorted({1, max(total // 4, 1), max(total // 2, 1), total} - {0}) if total else []
    if total:
        at = [a for a in at if 1 <= a <= total] or [total]
    if epoch is None or epoch not in at:
        epoch = at[0] if at else None
    fig = Figure("epochs", "The fit epoch by epoch", xlabel="x", ylabel="y", epochs=at, epoch=epoch)
    x, data = _data_series(spec, reference or learner)
    if data is None or epoch is None:
        fig.notes.append("There is no data to draw yet.")
        return fig
    fig.title = f"The fit after epoch {epoch} of {total}" if total else f"The fit after epoch {epoch}"
    fig.series.append(data)
    lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
    for role, label, caps in _runs(learner, reference):
        w = _get(caps, spec.step, _expr(spec.spec, "w"))
        b = _get(caps, spec.step, _expr(spec.spec, "b"))
        if w is None or b is None or w.size < epoch or b.size < epoch:
            if role == "learner" and learner is not None:
                fig.notes.append(f"Your run has no w and b for epoch {epoch}.")
            continue
        wv, bv = float(w.ravel()[epoch - 1]), float(b.ravel()[epoch - 1])
        if not (math.isfinite(wv) and math.isfinite(bv)):
            fig.notes.append(f"Your w or b is not a finite number at epoch {epoch}: the run diverged.")
            continue
        xs = np.linspace(lo, hi, 60)
        fig.series.append(Series(f"{label}: w={fmt(wv)} b={fmt(bv)}", xs.tolist(), (wv * xs + bv).tolist(), role))
    _clip_to_data(fig, data, fig.series[1:])
    return fig


def _accuracy(spec: ChartSpec, learner: Any, reference: Any) -> Figure:
    expr = _expr(spec.spec, "y", "values", "accuracy")
    fig = Figure("accuracy", "Accuracy", xlabel="epoch", ylabel="accuracy")
    finals = {}
    for role, label, caps in _runs(learner, reference):
        values = _get(caps, spec.step, expr)
        if values is None or values.size == 0:
            continue
        values = values.ravel()
        finals[role] = float(values[-1])
        if values.size == 1:  # one accuracy at the end: a bar per run
            fig.series.append(Series(label, [0.0], [finals[role]], role, "bar"))
            fig.ylim = (0.0, 1.0) if 0.0 <= finals[role] <= 1.0 else None
            fig.xlabel = ""
            continue
        x, y = _thin(np.arange(1, values.size + 1, dtype=np.float64), values, 1000)
        keep = np.isfinite(y)
        fig.series.append(Series(label, x[keep].tolist(), y[keep].tolist(), role))
        fig.xticks = epoch_ticks(int(values.size))
    parts = [f"{'yours' if r == 'learner' else 'the reference'} {finals[r]:.1%}" for r in ("learner", "reference") if r in finals]
    if parts:
        fig.title = "Accuracy: " + ", ".join(parts)
    return fig


def _probability(spec: ChartSpec, learner: Any, reference: Any) -> Figure:
    fig = Figure("probability", "Predicted probability of class 1", xlabel="x", ylabel="p(y = 1)")
    x, data = _data_series(spec, reference or learner)
    if data is None:
        fig.notes.append("There is no data to draw yet.")
        return fig
    fig.series.append(data)
    for role, label, caps in _runs(learner, reference):
        prob = _get(caps, spec.step, _expr(spec.spec, "prob", "line"))
        if prob is None or prob.size != x.size:
            continue
        px, py = _line_order(x, prob.ravel())
        keep = np.isfinite(py)
        px, py = _thin(px[keep], py[keep])
        fig.series.append(Series(label, px.tolist(), py.tolist(), role))
    _probability_marks(spec, fig, x, learner, reference)
    return fig


def _probability_marks(spec: ChartSpec, fig: Figure, x: np.ndarray, learner: Any, reference: Any) -> None:
    """The 0.5 threshold as a line and, with `correct = "EXPR"` (a 0/1 or bool per point), the points
    the run (the learner's, else the reference's) classifies right, over the data."""
    lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
    fig.series.append(Series("0.5", [lo, hi], [0.5, 0.5], "threshold"))
    expr = _expr(spec.spec, "correct")
    if not isinstance(expr, str):
        return
    y = _get(reference or learner, spec.step, _expr(spec.spec, "y"))
    for role, caps in (("learner", learner), ("reference", reference)):
        right = _get(caps, spec.step, expr)
        if right is None or y is None or right.size != x.size:
            continue
        keep = right.ravel() > 0.5
        px, py = _thin(x[keep], y.ravel()[keep])
        fig.series.append(Series("classified right", px.tolist(), py.tolist(), "correct", "points"))
        fig.notes.append(f"{int(keep.sum())} of {keep.size} points classified right ({'yours' if role == 'learner' else 'the reference'}).")
        break


def _boundary(spec: ChartSpec, learner: Any, reference: Any) -> Figure:
    fig = Figure("boundary", "Decision boundary", xlabel="x0", ylabel="x1")
    caps = reference or learner
    x = _get(caps, spec.step, _expr(spec.spec, "x"))
    y = _get(caps, spec.step, _expr(spec.spec, "y"))
    if x is None or y is None or x.ndim != 2 or x.shape[1] != 2 or y.size != x.shape[0]:
        fig.notes.append("There is no two-feature data to draw yet.")
        return fig
    labels = y.ravel() > 0.5
    for cls, role in ((False, "class0"), (True, "class1")):
        pts = x[labels == cls]
        px, py = _thin(pts[:, 0], pts[:, 1])
        fig.series.append(Series(f"class {int(cls)}", px.tolist(), py.tolist(), role, "points"))
    lo, hi = float(np.nanmin(x[:, 0])), float(np.nanmax(x[:, 0]))
    ylo, yhi = float(np.nanmin(x[:, 1])), float(np.nanmax(x[:, 1]))
    for role, label, run in _runs(learner, reference):
        w = _get(run, spec.step, _expr(spec.spec, "w"))
        b = _get(run, spec.step, _expr(spec.spec, "b"))
        if w is None or b is None or w.size != 2 or b.size < 1:
            continue
        w0, w1, b0 = (float(v) for v in (*w.ravel(), b.ravel()[0]))
        if not all(math.isfinite(v) for v in (w0, w1, b0)) or abs(w1) < 1e-12:
            continue
        xs = np.linspace(lo, hi, 60)
        ys = -(w0 * xs + b0) / w1
        keep = (ys >= ylo - (yhi - ylo)) & (ys <= yhi + (yhi - ylo))
        fig.series.append(Series(label, xs[keep].tolist(), ys[keep].tolist(), role))
    return fig


# ---- drawing --------------------------------------------------------------------------------


def draw(fig: Figure, plt: Any) -> None:
    """Draw a figure on a plotext-like object (its data should be cleared by the caller)."""
    bars = [s for s in fig.series if s.style == "bar" and s.y]
    if bars:
        plt.bar([s.label for s in bars], [s.y[0] for s in bars], color=[COLORS.get(s.role, "default") for s in bars],
                width=0.3)
    for s in fig.series:
        if not s.x or s.style == "bar":
            continue
        color = COLORS.get(s.role, "default")
        if s.style == "points":
            plt.scatter(s.x, s.y, marker=MARKERS["points"], color=color, label=s.label)
        else:
            plt.plot(s.x, s.y, marker=MARKERS["line"], color=color, label=s.label)
    plt.title(fig.title)
    if fig.xlabel:
        plt.xlabel(fig.xlabel)
    if fig.ylabel:
        plt.ylabel(fig.ylabel)
    if fig.yticks is not None:
        plt.yticks(*fig.yticks)
    if fig.xticks is not None:
        plt.xticks(*fig.xticks)
    if fig.ylim is not None:
        plt.ylim(*fig.ylim)

def epoch_step(fig_epochs: Sequence[int], current: int | None, delta: int) -> int | None:
    """The epoch `delta` places after `current` in the list (clamped), for stepping with keys."""
    if not fig_epochs:
        return None
    try:
        i = list(fig_epochs).index(current) if current is not None else 0
    except ValueError:
        i = 0
    return fig_epochs[max(0, min(len(fig_epochs) - 1, i + delta))]
