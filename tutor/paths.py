"""Where the built-in lessons and datasets are: beside the package in a wheel, at the repo top in a checkout."""

from __future__ import annotations

import os
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


CACHE_ENV = "TUTOR_CACHE"


def cache_dir() -> Path:
    """Where the tutor keeps what it can make again (reference runs, the MNIST CSV): $TUTOR_CACHE if
    set, else the user cache directory (~/.cache/tutor on Linux)."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value:
        return Path(value).expanduser()
    import platformdirs

    return platformdirs.user_cache_path("tutor", appauthor=False)
