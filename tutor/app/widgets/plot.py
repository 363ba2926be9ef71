"""The one plot widget: a thin wrapper over textual-plotext's PlotextPlot.

Nothing else in the app touches plotext, so the plotting library can be swapped here alone.
`show(figure)` replots: the figure is cleared (not only its data: titles, ticks and limits change
from one chart to the next), `tutor.charts.draw` puts the figure on it, and the widget refreshes.
textual-plotext is imported when the widget is built, not when the app starts (first paint).
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.widget import Widget

from tutor import charts


class ChartPlot(Widget):
    """Draws one `tutor.charts.Figure`; follows the app's theme (textual-plotext's "auto")."""

    DEFAULT_CSS = """
    ChartPlot { height: 1fr; width: 1fr; }
    ChartPlot > PlotextPlot { height: 1fr; width: 1fr; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.figure: charts.Figure | None = None

    def compose(self) -> ComposeResult:
        from textual_plotext import PlotextPlot

        yield PlotextPlot()

    @property
    def _plot(self) -> Any:
        from textual_plotext import PlotextPlot

        return self.query_one(PlotextPlot)

    def show(self, figure: charts.Figure | None) -> None:
        self.figure = figure
        self.replot()

    def replot(self) -> None:
        plot = self._plot
        plt = plot.plt
        plt.clear_figure()
        if self.figure is not None:
            charts.draw(self.figure, plt)
        plot.refresh()
