"""The charts and output panel: what the last check said, one chart at a time, the program's prints.

Decision (where charts go): beside the code when the terminal is wide (110 columns or more), and in
place of the code at 80x24, switched with ctrl+o. The panel takes the focus when shown so its keys
work at once: left/right step through the epochs of the epoch-by-epoch fit, up/down change chart.
The learner's output is shown as plain text (never markup).
"""

from __future__ import annotations

from typing import Any, Mapping

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from tutor import charts
from tutor.app.widgets.plot import ChartPlot


class ChartsPanel(Vertical, can_focus=True):
    """Summary of the last check, the charts of both runs, and the learner's output."""

    BINDINGS = [
        Binding("right", "epoch(1)", "Next epoch", id="next-epoch", show=False),
        Binding("left", "epoch(-1)", "Previous epoch", id="previous-epoch", show=False),
        Binding("down", "chart(1)", "Next chart", id="next-chart", show=False),
        Binding("up", "chart(-1)", "Previous chart", id="previous-chart", show=False),
    ]

    class ChartChanged(Message):
        """The chart or the epoch shown changed (the screen remembers it)."""

        def __init__(self, index: int, epochs: dict[str, int]) -> None:
            super().__init__()
            self.index = index
            self.epochs = epochs

    def __init__(self, lesson: Any, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lesson = lesson
        self.specs = charts.chart_specs(lesson)
        self.index = 0
        self.epochs: dict[str, int] = {}
        self.learner: Mapping[str, Any] | None = None
        self.reference: Mapping[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="charts-summary")
        yield ChartPlot(id="chart")
        yield Static("", id="charts-nav")
        yield Static("Output of your program", id="output-title")
        with VerticalScroll(id="output-scroll", can_focus=False):
            yield Static("", id="output", markup=False)

    def on_mount(self) -> None:
        self.set_summary(Content("Check your answers (ctrl+r) to see your run beside the reference."))
        self.query_one("#output", Static).update("Nothing yet: your program's prints appear here after a check.")
        self._redraw()

    # ---- what the screen tells the panel ----------------------------------------------------
    def set_summary(self, content: Content) -> None:
        self.query_one("#charts-summary", Static).update(content)

    def set_runs(self, learner: Mapping[str, Any] | None, reference: Mapping[str, Any] | None, stdout: str) -> None:
        self.learner, self.reference = learner, reference
        out = stdout.rstrip("\n")
        self.query_one("#output-title", Static).update("Output of your program")
        self.query_one("#output", Static).update(out if out else "(your program printed nothing)")
        self._redraw()

    def show_live_output(self, text: str) -> None:
        """The output of the run in progress (plain text), newest line in view."""
        self.query_one("#output-title", Static).update("Output of your program (running…)")
        self.query_one("#output", Static).update(text)
        self.query_one("#output-scroll", VerticalScroll).scroll_end(animate=False)

    def clear(self) -> None:
        self.learner = self.reference = None
        self.query_one("#output", Static).update("Nothing yet: your program's prints appear here after a check.")
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
        self.post_message(self.ChartChanged(self.index, dict(self.epochs)))

    def action_chart(self, delta: int) -> None:
        if not self.specs:
            return
        self.index = (self.index + delta) % len(self.specs)
        self._redraw()
        self.post_message(self.ChartChanged(self.index, dict(self.epochs)))

    # ---- drawing ----------------------------------------------------------------------------
    def current_figure(self) -> charts.Figure | None:
        if not self.specs or (self.learner is None and self.reference is None):
            return None
        spec = self.specs[self.index % len(self.specs)]
        return charts.figure(spec, self.learner, self.reference, epoch=self.epochs.get(spec.key))

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
            parts.append(Content.styled(" ".join(fig.notes), "$text-warning"))
            parts.append(Content("\n"))
        where = f"chart {self.index + 1} of {len(self.specs)} (up/down)"
        if fig.kind == "epochs" and fig.epochs:
            steps = " ".join(f"[{e}]" if e == fig.epoch else str(e) for e in fig.epochs)
            where = f"epoch {steps} (left/right) · " + where
        parts.append(Content.styled(where, "$text-muted"))
        nav.update(Content("").join(parts))
