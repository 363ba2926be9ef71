"""Lessons: the model of a lesson file and the parser that reads one (no UI, nothing else of ours)."""

from __future__ import annotations

from .checks import DIAGNOSIS_CODES
from .model import (
    FRAMEWORK_NAMES,
    Blank,
    CompareSpec,
    Lesson,
    LessonError,
    LessonProblem,
    Location,
    Segment,
    Step,
)
from .parser import (
    find_lesson,
    load_lessons,
    parse_lesson,
    parse_lesson_text,
    read_lessons,
)
from .template import reference_program, render_step

__all__ = [
    "DIAGNOSIS_CODES",
    "FRAMEWORK_NAMES",
    "Blank",
    "CompareSpec",
    "Lesson",
    "LessonError",
    "LessonProblem",
    "Location",
    "Segment",
    "Step",
    "find_lesson",
    "load_lessons",
    "parse_lesson",
    "parse_lesson_text",
    "read_lessons",
    "reference_program",
    "render_step",
]
