"""The one place where learner- or file-made text is cleaned for a terminal.

Exception messages (a learner writes them), answers files (their keys, their names), lesson files
and what the progress database kept all end up on a terminal, and a terminal obeys what they hold:
ESC and the sequences it starts (CSI, OSC 52 clipboard writes, titles, DCS, SOS/PM/APC), the 8-bit
C1 controls that stand for them (U+009B is a CSI), the other C0 controls (a bell, a backspace, a bare
carriage return that rewrites the line) and invisible characters that make a line read differently
from what it holds (bidi overrides and isolates, zero-width characters). One set of characters,
two functions:

- `clean(text)`, for text still to be laid out: escape sequences are removed whole, by the grammar
  the sandbox uses for a run's output (`tutor.sandbox.wire.clean_output`, which this module does not
  import, standard library only, but agrees with, as a test checks); every other control but \\n and \\t is removed (\\r\\n
  becomes \\n, a lone \\r goes); invisible characters and lone surrogates are shown, as `<U+202E>`.
- `cells(text)`, for text already laid out on a line of cells: every control and invisible character
  is dropped and a lone surrogate becomes U+FFFD, so the line keeps its width; the printable rest of
  an escape sequence stays, as text. The zero-width joiner stays too: the layout counts it as joining
  its neighbours (an emoji sequence), so dropping it would widen the line; it controls no terminal.

The boundaries, one per output channel:

- The CLI: `tutor.cli.main` runs with `sys.stdout` and `sys.stderr` behind `CleanStream`
  (`cleaned_output`), so every line it prints for a person passes `clean`, whatever prints it.
  `--json` lines are printable ASCII (`tutor.cli._json` escapes what `json.dumps` leaves), which
  `clean` leaves as they are.
- The app: `tutor.app.app.SafeCells`, a line filter the app adds to Textual's. Every line a widget
  draws (Static, Markdown, Input, TextArea, the option list, toasts, the palette) passes it after
  layout and before the driver writes it, so no widget bypasses it; a link target carrying a control
  loses its link. It keeps widths, so in the app an invisible character is dropped, not spelled out.

Linear time: each pattern is one left-to-right pass that never backtracks (every repeated class is
disjoint from what may follow it), so a megabyte of `ESC [ 1 1 1 ...` or of `ESC ]` with no
terminator costs one scan of a megabyte.
"""

from __future__ import annotations

import contextlib
import re
import sys
from typing import Any, Iterable, Iterator, TextIO

# Escape sequences, as tutor.sandbox.wire._ANSI reads them, and every other control but \t and \n.
_SEQUENCE_OR_CONTROL = re.compile(
    r"""
      \x1b\[[0-?]*[ -/]*[@-~]?                     # CSI: parameters, intermediates, final byte
    | \x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?     # OSC, DCS, SOS, PM, APC: up to BEL or ST
    | \x1b[ -/]*[0-~]?                             # two-byte and nF escapes, and a lone ESC
    | \x9b[0-?]*[ -/]*[@-~]?                       # 8-bit CSI
    | [\x00-\x08\x0b-\x1f\x7f-\x9f]                # C0 but \t and \n, DEL, C1
    """,
    re.VERBOSE,
)

# Characters a terminal draws as nothing: bidi marks, overrides and isolates, zero-width spaces and
# joiners, word joiner and invisible operators, BOM, interlinear annotations, format controls of a
# few scripts, tags (Unicode's zero-width format characters and the line and paragraph separators);
# the zero-width joiner is added where it is shown, and only there (see `cells`).
_INVISIBLE_BUT_ZWJ = (
    "\u061c\u180e\u200b\u200c\u200e\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e007f"
)
_SHOWN = re.compile(f"[{_INVISIBLE_BUT_ZWJ}\u200d\ud800-\udfff]")
_DROPPED_CELL = re.compile(f"[\x00-\x1f\x7f-\x9f{_INVISIBLE_BUT_ZWJ}]")
_UNSAFE_CELL = re.compile(f"[\x00-\x1f\x7f-\x9f{_INVISIBLE_BUT_ZWJ}\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _code_point(match: re.Match[str]) -> str:
    return f"<U+{ord(match.group()):04X}>"


def clean(text: str) -> str:
    """Text to lay out on a terminal: escapes and controls removed, \\n and \\t kept, invisible characters shown."""
    text = _SEQUENCE_OR_CONTROL.sub("", text.replace("\r\n", "\n"))
    return _SHOWN.sub(_code_point, text)


def one_line(text: str) -> str:
    """A field that must stay on its line (a file name, a key, a title, a verdict's sentence): cleaned,
    and a line break inside it shown as `\\n`, so it cannot start a fake line of its own."""
    return clean(str(text)).replace("\n", "\\n").replace("\t", " ")


def cells(text: str) -> str:
    """Text already on a line of cells: controls and invisible characters dropped, the width kept."""
    if _UNSAFE_CELL.search(text) is None:
        return text  # nearly every line the app draws
    return _SURROGATE.sub("\ufffd", _DROPPED_CELL.sub("", text))


class CleanStream:
    """A text stream that cleans all it writes: a command line's one boundary to its terminal.

    Each write is cleaned alone: an escape sequence split over two writes loses its ESC in the first
    and shows its printable rest in the second, so nothing of it is obeyed either way.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(clean(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)  # flush, isatty, fileno, encoding...


@contextlib.contextmanager
def cleaned_output() -> Iterator[None]:
    """`sys.stdout` and `sys.stderr` behind `CleanStream` while the block runs."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = CleanStream(out), CleanStream(err)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err
