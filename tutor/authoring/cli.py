"""The bodies of `tutor new` and `tutor import` (tutor/cli.py registers them with `add_parsers`).

`tutor import` writes the lesson, says what it dropped or could not convert (each at its cell and
line in the notebook), reads the lesson back with the lesson parser (a problem found there is put
back at its cell and line too), then runs `tutor check` on it through the `check` callable the CLI
hands in, so that this package imports nothing but tutor.lesson. Exit 0: the lesson passes; 1: it was
written but needs the author (said above); 2: nothing was written (a notebook that cannot be read,
an output file that exists without --force).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Callable

from tutor.lesson import LessonError, parse_lesson

from .notebook import AuthoringError, Imported, build
from .starter import FRAMEWORKS, StarterError, write_starter

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("new", parents=[common], help="for instructors: write a commented starter lesson ID.md")
    s.add_argument("id", help="the lesson's id: lowercase letters, digits and hyphens")
    s.add_argument("--framework", choices=FRAMEWORKS, default="numpy", help="numpy (np only) or torch (default: numpy)")
    s.add_argument("--dir", metavar="DIR", default=None, help="the folder to write it in (default: --lessons DIR, else here)")
    s = sub.add_parser("import", parents=[common], help="for instructors: a Jupyter exercise notebook as a lesson")
    s.add_argument("notebook", metavar="EXERCISE.ipynb", help="the exercise: ??? in its code, or nbgrader's solution markers")
    s.add_argument("--solution", metavar="SOLUTION.ipynb", default=None, help="the same notebook with every ??? filled in")
    s.add_argument("-o", "--output", metavar="LESSON.md", default=None, help="the lesson file (default: ./EXERCISE.md)")
    s.add_argument("--force", action="store_true", help="write over an existing lesson file")
    s.add_argument("--no-check", action="store_true", help="do not run `tutor check` on the result")


def cmd_new(args: argparse.Namespace) -> int:
    folder = Path(args.dir or getattr(args, "lessons", None) or ".")
    try:
        path = write_starter(args.id, args.framework, folder)
    except StarterError as exc:
        print(f"tutor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {path}: edit it (docs/authoring.md), then run `tutor check {path}`")
    return EXIT_OK


def cmd_import(args: argparse.Namespace, check: Callable[[Path], int] | None = None) -> int:
    exercise = Path(args.notebook)
    out = Path(args.output) if args.output else Path(exercise.stem + ".md")
    if out.exists() and not args.force:
        print(f"tutor: {out} already exists: choose another -o file, or add --force to write over it", file=sys.stderr)
        return EXIT_USAGE
    if out.suffix != ".md":
        print(f"tutor: {out}: a lesson file's name ends in .md: write -o LESSON.md", file=sys.stderr)
        return EXIT_USAGE
    try:
        imported = build(exercise, Path(args.solution) if args.solution else None, out)
        out.write_text(imported.text, encoding="utf-8")
        copied = _copy_data(imported, exercise, out)
    except AuthoringError as exc:
        print(f"tutor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"tutor: {out} cannot be written ({(exc.strerror or str(exc)).lower()}): check the folder", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {out}: {len(imported.blanks)} blanks, {imported.framework}")
    for name, (cell, line) in imported.blanks.items():
        print(f"  blank {name:<14} cell {cell}, line {line}")
    for text in copied:
        print(f"  {text}")
    todo = _print_notes(imported)
    try:
        parse_lesson(out)
    except LessonError as exc:
        for p in exc.problems:
            where = imported.lines.get(p.location.line)
            at = f" (notebook cell {where[0]}, line {where[1]})" if where else ""
            print(f"{p}{at}", file=sys.stderr)
        print(f"tutor import: {out} needs the author: fix the problems above in it (or in the notebook, and import again)",
              file=sys.stderr)
        return EXIT_FAILED
    if args.no_check or check is None:
        return EXIT_FAILED if todo else EXIT_OK
    print(f"tutor check {out}:")
    code = check(out)
    if code != EXIT_OK:
        print(f"tutor import: {out} was written but does not pass `tutor check` yet: the blanks' cells and lines are listed"
              " above", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _print_notes(imported: Imported) -> int:
    """Print the notes, what needs the author first; how many need the author."""
    todo = [n for n in imported.notes if n.todo]
    for note in todo:
        print(f"  needs you: {note.place()}: {note.text}")
    for note in imported.notes:
        if not note.todo:
            print(f"  note: {note.place()}: {note.text}" if note.cell else f"  note: {note.text}")
    return len(todo)


def _copy_data(imported: Imported, exercise: Path, out: Path) -> list[str]:
    """Copy each data file the notebook loads beside the lesson (same relative path), unless it is there."""
    said = []
    base = exercise.resolve().parent
    folder = out.resolve().parent
    for path in imported.data.values():
        target = folder / path.relative_to(base)
        if target.resolve() == path:
            continue
        if target.exists():
            said.append(f"kept {target}, already beside the lesson (the notebook's copy is {path})")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        said.append(f"copied {path.name} beside the lesson: {target}")
    return said
