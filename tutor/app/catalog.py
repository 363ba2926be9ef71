"""The lessons as the app lists them: a quick index for the first paint, the full parse after it.

Decision: parsing every lesson (with its checks) costs about 10 ms a lesson, and the list must be on
screen within half a second however many lessons there are. So the list is first drawn from each
file's header alone (id, title, framework: a few lines of TOML, read by the parser's own header
reader, tutor/lesson/header.py), in the parser's order (numeric prefix, then name), and the lessons
are parsed in a worker right after the first paint; the list then gains blank counts and
descriptions. A lesson opened before its parse is done opens when it is.
No Textual here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tutor.lesson import Lesson, load_lessons
from tutor.lesson.files import lesson_paths
from tutor.lesson.header import quick_header


@dataclass
class Entry:
    """One lesson in the list; `lesson` is None until the lessons are parsed."""

    id: str
    title: str
    framework: str
    path: Path
    lesson: Lesson | None = None

    @property
    def blanks(self) -> int | None:
        return len(self.lesson.blanks) if self.lesson is not None else None


def quick_index(folder: str | Path) -> list[Entry]:
    """Every lesson file's id, title and framework from its header, in teaching order.

    A folder that is missing or holds no lesson raises the parser's LessonError (its sentence);
    a file whose header cannot be read is listed by its name: the full parse reports its problems.
    """
    folder = Path(folder)
    try:
        files = lesson_paths(folder)  # the parser's list: a pipe or a folder named x.md is listed, not read
    except OSError:
        files = []
    if not files:
        load_lessons(folder)  # raises the parser's own sentence for a missing or empty folder
        return []
    entries = []
    for path in files:
        head = quick_header(path)  # {} for a pipe, a device, a loop, a huge file: reported by the parse
        lesson_id = head.get("id") if isinstance(head.get("id"), str) else path.stem
        title = head.get("title") if isinstance(head.get("title"), str) else path.stem
        framework = head.get("framework") if isinstance(head.get("framework"), str) else "numpy"
        entries.append(Entry(lesson_id, title, framework, path))
    return entries


def entries_of(lessons: list[Lesson]) -> list[Entry]:
    """Entries for parsed lessons (the parser's order and data win over the quick index)."""
    return [Entry(l.id, l.title, l.framework, l.path, l) for l in lessons]
