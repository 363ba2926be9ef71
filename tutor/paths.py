"""Where the built-in lessons and datasets are: beside the package in a wheel, at the repo top in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(installed: str, checkout: str) -> Path:
    inside = _PACKAGE / installed
    if inside.is_dir() and any(inside.iterdir()):
        return inside
    return _PACKAGE.parent / checkout


def builtin_lessons_dir() -> Path:
    return _find("lessons", "lessons")


def datasets_dir() -> Path:
    return _find("data", "datasets")
