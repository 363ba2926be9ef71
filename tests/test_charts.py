"""Charts as data, and drawn on plotext itself: what a learner would read off each chart."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import plotext
import pytest

from tutor import charts
from tutor.sandbox.results import Value

X = np.linspace(0.0, 1.0, 400)
Y = 3.0 * X + 2.0 + 0.1 * np.sin(40 * X)


def train(sign: float = 1.0, epochs: int = 1000) -> dict[str, dict[str, object]]:
    w = b = 0.0
    ws, bs, losses = [], [], []
    with np.errstate(all="ignore"):
        for _ in range(epochs):
            err = Y - (w * X + b)
            losses.append(np.mean(err**2))
            w, b = w - 0.5 * sign * -2 * np.mean(err * X), b - 0.5 * -2 * np.mean(err)
            ws.append(w)
            bs.append(b)
    step0 = {"loss_list": np.array(losses), "w_list": np.array(ws), "b_list": np.array(bs), "X": X, "y": Y}
    return {"0": step0, "1": {"X": X, "y": Y, "y_pred": w * X + b}}


def lesson(*charts_by_step: dict) -> SimpleNamespace:
    return SimpleNamespace(steps=[SimpleNamespace(charts=c) for c in charts_by_step])


LINREG = lesson(
    {"loss": "loss_list", "epochs": {"x": "X", "y": "y", "w": "w_list", "b": "b_list", "at": [1, 200, 1000]}},
    {"fit": {"x": "X", "y": "y", "line": "y_pred"}},
)


def build(fig: charts.Figure, width: int = 70, height: int = 20) -> str:
    plotext.clear_figure()
    plotext.plotsize(width, height)
    charts.draw(fig, plotext)
    return plotext.uncolorize(plotext.build())


def test_every_requested_chart_is_built_in_step_order():
    figs = charts.figures(LINREG, train(), train())
    assert [f.kind for f in figs] == ["loss", "epochs", "fit"]
    assert [s.key for s in charts.chart_specs(LINREG)] == ["0:loss", "0:epochs", "1:fit"]


def test_loss_beside_the_reference_on_a_log_scale_when_it_spans_decades():
    fig = charts.figures(LINREG, train(-1.0), train())[0]
    assert [s.label for s in fig.series] == ["reference", "yours"]
    assert fig.log_y and fig.ylabel == "loss (log scale)"
    ref, yours = fig.series
    assert ref.y[0] == pytest.approx(math.log10(np.mean(Y**2)))  # logs taken, not a log axis
    assert yours.y[-1] > 50  # a diverging run climbs decades above the reference
    positions, labels = fig.yticks
    assert all(p == int(p) for p in positions) and labels[0].startswith("1e-")
    assert fig.ylim[0] <= min(positions) and max(positions) <= fig.ylim[1]
    text = build(fig)
    assert "yours" in text and "reference" in text and "1e+" in text


def test_loss_stays_linear_when_it_does_not_span_decades():
    run = {"0": {"loss_list": np.linspace(2.0, 1.0, 50)}}
    fig = charts.figure(charts.ChartSpec(0, "loss", "loss_list"), run, run)
    assert not fig.log_y and fig.yticks is None
    assert fig.xticks == ([1.0, 20.0, 40.0], ["1", "20", "40"])


def test_a_loss_that_becomes_inf_is_cut_there_and_said():
    values = np.array([4.0, 40.0, 400.0, np.inf, np.nan])
    fig = charts.figure(charts.ChartSpec(0, "loss", "l"), {"0": {"l": values}}, {"0": {"l": np.ones(5)}})
    yours = fig.series[1]
    assert len(yours.y) == 3
    assert any("from epoch 4" in n and "diverged" in n for n in fig.notes)


def test_fit_draws_the_data_and_both_lines_over_it():
    fig = charts.figures(LINREG, train(), train())[2]
    data, ref, yours = fig.series
    assert (data.style, data.role, ref.role, yours.role) == ("points", "data", "reference", "learner")
    assert yours.x == sorted(yours.x)  # a line, drawn left to right
    assert np.allclose(yours.y, ref.y)
    assert fig.ylim[0] < min(data.y) and max(data.y) < fig.ylim[1]
    text = build(fig)
    assert "data" in text and "yours" in text


def test_a_line_far_off_the_data_is_clamped_and_said_not_drawn_to_scale():
    fig = charts.figures(LINREG, train(-1.0), train())[2]
    yours = fig.series[2]
    assert min(yours.y) >= fig.ylim[0] and max(yours.y) <= fig.ylim[1]
    assert any("runs off the chart" in n for n in fig.notes)
    build(fig)  # and plotext draws it without filling millions of cells


def test_epochs_step_through_the_chosen_epochs():
    learner, reference = train(), train()
    spec = charts.chart_specs(LINREG)[1]
    fig = charts.figure(spec, learner, reference)
    assert (fig.epochs, fig.epoch) == ([1, 200, 1000], 1)
    assert fig.title == "The fit after epoch 1 of 1000"
    w1, b1 = reference["0"]["w_list"][0], reference["0"]["b_list"][0]
    line = fig.series[1]
    assert line.y[0] == pytest.approx(w1 * line.x[0] + b1)
    nxt = charts.epoch_step(fig.epochs, fig.epoch, 1)
    fig = charts.figure(spec, learner, reference, epoch=nxt)
    assert fig.epoch == 200 and "w=" in fig.series[2].label
    assert charts.epoch_step(fig.epochs, 1000, 1) == 1000 and charts.epoch_step(fig.epochs, 1, -1) == 1


def test_captures_may_be_sandbox_values_and_a_failed_run_draws_the_reference_alone():
    arr = np.linspace(3.0, 1.0, 10)
    ref = {"0": {"l": Value("array", type="list", shape=(10,), array=arr)}}
    bad = {"0": {"l": Value("error", text="NameError")}}
    fig = charts.figure(charts.ChartSpec(0, "loss", "l"), bad, ref)
    assert [s.label for s in fig.series] == ["reference"]
    assert "Your run left no loss to draw." in fig.notes
    assert charts.figure(charts.ChartSpec(0, "loss", "l"), None, None).empty


def test_classifier_charts_probability_boundary_and_accuracy():
    rng = np.random.default_rng(0)
    x2 = rng.normal(size=(100, 2))
    labels = (x2[:, 0] + x2[:, 1] > 0).astype(float)
    run = {"0": {"X": x2, "y": labels, "w": np.array([1.0, 1.0]), "b": np.array([0.0]),
                 "acc": np.linspace(0.5, 0.97, 30), "x1": x2[:, 0], "p": 1 / (1 + np.exp(-3 * x2[:, 0]))}}
    boundary = charts.figure(charts.ChartSpec(0, "boundary", {"x": "X", "y": "y", "w": "w", "b": "b"}), run, run)
    assert [s.role for s in boundary.series] == ["class0", "class1", "reference", "learner"]
    line = boundary.series[2]
    assert line.y[0] == pytest.approx(-line.x[0])  # x1 = -(w0 x0 + b) / w1
    acc = charts.figure(charts.ChartSpec(0, "accuracy", "acc"), run, run)
    assert acc.title == "Accuracy: yours 97.0%, the reference 97.0%"
    prob = charts.figure(charts.ChartSpec(0, "probability", {"x": "x1", "y": "y", "prob": "p"}), run, run)
    assert prob.series[1].y == sorted(prob.series[1].y)  # a sigmoid drawn left to right rises
    final = charts.figure(charts.ChartSpec(0, "accuracy", "final"), {"0": {"final": np.float64(0.8)}}, {"0": {"final": 0.9}})
    assert [(s.label, s.style, s.y) for s in final.series] == [("reference", "bar", [0.9]), ("yours", "bar", [0.8])]
    assert final.title == "Accuracy: yours 80.0%, the reference 90.0%" and final.ylim == (0.0, 1.0)
    for fig in (boundary, acc, prob, final):
        build(fig)
    assert "█" in build(final)


def test_log_ticks_and_epoch_ticks_are_round():
    assert charts.log_ticks(-1, 2) == ([-1.0, 0.0, 1.0, 2.0], ["1e-1", "1", "10", "100"])
    positions, labels = charts.log_ticks(-1, 86)
    assert len(positions) <= 6 and labels[0] == "1e-1"
    assert charts.epoch_ticks(1000) == ([1.0, 250.0, 500.0, 750.0, 1000.0], ["1", "250", "500", "750", "1000"])


def test_charts_and_progress_never_import_textual():
    code = textwrap.dedent(
        """
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "textual" or name.startswith(("textual.", "textual_")):
                    raise ImportError("textual is blocked in this test")
                return None

        sys.meta_path.insert(0, Block())
        import tutor.charts, tutor.progress
        assert not any(m.startswith("textual") for m in sys.modules)
        assert "torch" not in sys.modules
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
