"""Text with `inline code`, as the app shows it: the one place backticks become a code style.

Grader sentences, hints, notices and questions name blanks and code in backticks (Markdown's inline
code). Shown as they are, the backticks are noise; here each span becomes `CODE_STYLE` over the
text's own style, and the backticks go. The text is never parsed as markup.
"""

from __future__ import annotations

from textual.content import Content

CODE_STYLE = "bold"  # over the sentence's own colour, as code is set apart in the notes


def inline_code(text: str, style: str = "") -> Content:
    """`text` in `style`, its backticked spans as code (an unpaired backtick stays as it is)."""
    if text.count("`") < 2:
        return Content.styled(text, style) if style else Content(text)
    chunks = text.split("`")
    if len(chunks) % 2 == 0:  # an odd number of backticks: the last one is a plain character
        chunks[-2:] = [chunks[-2] + "`" + chunks[-1]]
    parts = []
    for k, chunk in enumerate(chunks):
        if chunk:
            parts.append(Content.styled(chunk, f"{style} {CODE_STYLE}".strip() if k % 2 else style))
    return Content("").join(parts)
