"""The footer: Textual's, made to fit a narrow terminal.

At 60 columns Textual's footer cuts its last keys (help among them) behind the palette's label. Under
`COMPACT_BELOW` columns it drops the padding between keys, and under `PALETTE_BELOW` the palette's own
label (ctrl+p still works, and the help lists it).
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Footer

COMPACT_BELOW = 90
PALETTE_BELOW = 70


class TutorFooter(Footer):
    def on_resize(self, event: Any) -> None:
        width = event.size.width
        self.compact = width < COMPACT_BELOW
        self.show_command_palette = width >= PALETTE_BELOW
