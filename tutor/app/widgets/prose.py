"""A lesson's prose: Textual's Markdown, with code blocks that name no language shown as plain text.

A lesson's formulas and sample output sit in indented or bare fenced blocks. Textual hands such a
block to Pygments' `guess_lexer`, which tries every lexer it has (some 40 ms a block, again at every
theme or style update: most of the second a lesson took to open) and may colour a formula as some
other language. A block that names its language (```python) is highlighted as that language.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Markdown

MarkdownFence = Markdown.BLOCKS["fence"]  # Textual's code block (its module is private)

PLAIN = "text"  # Pygments' lexer for text as it is


class PlainFence(MarkdownFence):
    """A code block; without a language, plain text (no guessing)."""

    @classmethod
    def highlight(cls, code: str, language: str, ansi: bool = False, dark: bool = False) -> Content:
        return super().highlight(code, language or PLAIN, ansi, dark)


class Prose(Markdown):
    """Markdown for a lesson's text (see the module's docstring)."""

    BLOCKS = {**Markdown.BLOCKS, "fence": PlainFence, "code_block": PlainFence}
