"""The charts and output panel: what the last check said, one chart at a time, the program's prints.

Decision (where charts go): beside the code when the terminal is wide (110 columns or more), and in
place of the code at 80x24, switched with ctrl+o. The panel takes the focus when shown so its keys
work at once: left/right step through the epochs of the epoch-by-epoch fit, up/down change chart.
The learner's output is shown as plain text (never markup); when the run did not end well, its error
(a traceback with lines of the lesson file, tutor/grading/crash.py) follows it, in view. A chart that has
nothing of the learner's to draw says why: the run failed (the error's first line), timed out, ran out
of memory, or ended without the value the chart draws.
"""

from __future__ import annotations

from typing import Any, Mapping

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from tutor import charts
from tutor.app import keys
from tutor.app.widgets.plot import ChartPlot


class ChartsPanel(Vertical, can_focus=True):
    """Summary of the last check, the charts of both runs, and the learner's output."""

    BINDINGS = [
        keys.key("left", "epoch(-1)", "Previous epoch", id="previous-epoch", show=False, title="Previous epoch",
                 help="previous / next epoch of the epoch-by-epoch fit"),
        keys.key("right", "epoch(1)", "Next epoch", id="next-epoch", show=False, title="Next epoch",
                 help="previous / next epoch of the epoch-by-epoch fit"),
        keys.key("up", "chart(-1)", "Previous chart", id="previous-chart", show=False, title="Previous chart",
                 help="previous / next chart"),
        keys.key("down", "chart(1)", "Next chart", id="next-chart", show=False, title="Next chart",
                 help="previous / next chart"),
    ]

    def __init__(self, lesson: Any, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lesson = lesson
        self.specs = charts.chart_specs(lesson)
        self.index = 0
        self.epochs: dict[str, int] = {}
        self.learner: Mapping[str, Any] | None = None
        self.reference: Mapping[str, Any] | None = None
        self.reason: str | None = None  # why the learner's run left nothing to draw, when it failed

    def compose(self) -> ComposeResult:
        yield Static("", id="charts-summary")
        yield ChartPlot(id="chart")
        yield Static("", id="charts-nav")
        yield Static("Output of your program", id="output-title")
        with VerticalScroll(id="output-scroll", can_focus=False):
            yield Static("", id="output", markup=False)
            yield Static("", id="output-error", markup=False)

    def on_mount(self) -> None:
        self.set_summary(Content("Check your answers (ctrl+r) to see your run beside the reference."))
        self.query_one("#output", Static).update("Nothing yet: your program's prints appear here after a check.")
        self._show_error(None)
        self._redraw()

    # ---- what the screen tells the panel ----------------------------------------------------
    def set_summary(self, content: Content) -> None:
        self.query_one("#charts-summary", Static).update(content)

    def set_runs(self, learner: Mapping[str, Any] | None, reference: Mapping[str, Any] | None, stdout: str,
                 error: str | None = None, reason: str | None = None) -> None:
        """Both runs' captures, the learner's prints and, when the run did not end well, its error and
        the reason its charts lack a curve (`GradeReport.run`: `.error`, `.reason`)."""
        self.learner, self.reference, self.reason = learner, reference, reason
        out = stdout.rstrip("\n")
        title = "Output of your program" + (" (it stopped with an error)" if error else "")
        self.query_one("#output-title", Static).update(title)
        self.query_one("#output", Static).update(out if out else "(your program printed nothing)")
        self._show_error(error)
        self._redraw()
        if error:
            self.call_after_refresh(lambda: self.query_one("#output-scroll", VerticalScroll).scroll_end(animate=False))

    def _show_error(self, error: str | None) -> None:
        shown = self.query_one("#output-error", Static)
        shown.update(error or "")
        shown.display = bool(error)

    def show_live_output(self, text: str) -> None:
        """The output of the run in progress (plain text), newest line in view."""
        self.query_one("#output-title", Static).update("Output of your program (running…)")
        self.query_one("#output", Static).update(text)
        self._show_error(None)
        self.query_one("#output-scroll", VerticalScroll).scroll_end(animate=False)

    def clear(self) -> None:
        self.learner = self.reference = self.reason = None
        self.query_one("#output", Static).update("Nothing yet: your program's prints appear here after a check.")
        self._show_error(None)
        self.set_summary(Content("Check your answers (ctrl+r) to see your run beside the reference."))
        self._redraw()

    def select(self, kind: str) -> None:
        """Show the first chart of this kind (the loss after a wrong check, the fit after a right one)."""
        for i, spec in enumerate(self.specs):
            if spec.kind == kind:
                self.index = i
                self._redraw()
                return

    # ---- keys -------------------------------------------------------------------------------
    def action_epoch(self, delta: int) -> None:
        fig = self.current_figure()
        if fig is None or fig.kind != "epochs" or not fig.epochs:
            self.app.bell()
            return
        spec = self.specs[self.index]
        self.epochs[spec.key] = charts.epoch_step(fig.epochs, fig.epoch, delta) or fig.epochs[0]
        self._redraw()

    def action_chart(self, delta: int) -> None:
        if not self.specs:
            return
        self.index = (self.index + delta) % len(self.specs)
        self._redraw()

    # ---- drawing ----------------------------------------------------------------------------
    def current_figure(self) -> charts.Figure | None:
        if not self.specs or (self.learner is None and self.reference is None):
            return None
        spec = self.specs[self.index % len(self.specs)]
        fig = charts.figure(spec, self.learner, self.reference, epoch=self.epochs.get(spec.key))
        steps = len(getattr(self.lesson, "steps", []))
        if steps > 1:  # which step's run this chart draws
            fig.title = f"Step {spec.step + 1}: {fig.title}"
        return fig

    def _redraw(self) -> None:
        fig = self.current_figure()
        self.query_one(ChartPlot).show(fig)
        self.query_one(ChartPlot).display = fig is not None
        nav = self.query_one("#charts-nav", Static)
        if not self.specs:
            nav.update("This lesson draws no charts.")
            return
        if fig is None:
            nav.update(Content.styled("No charts yet: they are drawn from a check.", "$text-muted"))
            return
        parts = []
        if fig.notes:
            parts.append(Content.styled(" ".join(self._explained(fig.notes)), "$text-warning"))
            parts.append(Content("\n"))
        where = f"chart {self.index + 1} of {len(self.specs)} (up/down)"
        if fig.kind == "epochs" and fig.epochs:
            steps = " ".join(f"[{e}]" if e == fig.epoch else str(e) for e in fig.epochs)
            where = f"epoch {steps} (left/right) · " + where
        parts.append(Content.styled(where, "$text-muted"))
        nav.update(Content("").join(parts))

    def _explained(self, notes: list[str]) -> list[str]:
        """"Your run left no loss to draw." with why: the run failed (`reason`), or it ended without
        the value the chart draws."""
        out = []
        for note in notes:
            if note.startswith("Your run left no ") and note.endswith(" to draw."):
                why = self.reason or self._not_captured()
                if why:
                    note = f"{note[:-1]}: {why}."
            out.append(note)
        return out

    def _not_captured(self) -> str | None:
        """Which value of the current chart the learner's run did not leave as numbers, and what it left."""
        if not self.specs or self.learner is None:
            return None
        spec = self.specs[self.index % len(self.specs)]
        caps = self.learner.get(str(spec.step))
        if not isinstance(caps, Mapping):
            return "your run did not get to the end of this step"
        table = spec.spec if isinstance(spec.spec, Mapping) else {"values": spec.spec}
        for key, expr in table.items():
            if not isinstance(expr, str) or key in ("title", "kind", "scale") or (key in ("x", "y") and spec.kind != "loss"):
                continue  # the data comes from the reference run
            value = caps.get(expr)
            if value is None:
                return f"`{expr}` was not captured"
            if getattr(value, "kind", "array") == "error":
                text = " ".join(str(getattr(value, "text", "")).split())
                return f"`{expr}` was not captured ({text[:117] + '…' if len(text) > 120 else text})"
            if charts.as_array(value) is None:
                return f"`{expr}` holds no numbers"
        return None
