"""The app's seams are typed: the test doubles it is tried with offer what the real objects offer."""

from __future__ import annotations

import inspect
from pathlib import Path

from test_app import FakeGrader

from tutor.grading.grader import Grader
from tutor.grading.seams import GraderLike
from tutor.progress import ProgressStore, Store


def _params(fn) -> list[tuple[str, object]]:
    return [(p.name, p.kind) for p in inspect.signature(fn).parameters.values()][1:]  # without self


def _conforms(cls: type, proto: type) -> list[str]:
    """The protocol's methods `cls` lacks or takes other parameters for."""
    wrong = []
    for name, member in vars(proto).items():
        if name.startswith("_") or not callable(member):
            continue
        impl = getattr(cls, name, None)
        if impl is None or _params(impl) != _params(member):
            wrong.append(name)
    return wrong


def test_the_real_grader_and_the_apps_test_double_offer_the_same_grade() -> None:
    assert _conforms(Grader, GraderLike) == []
    assert _conforms(FakeGrader, GraderLike) == []
    assert isinstance(FakeGrader(), GraderLike)


def test_the_progress_store_offers_what_the_app_asks() -> None:
    assert _conforms(ProgressStore, Store) == []
    store = ProgressStore.memory()
    try:
        assert isinstance(store, Store)
    finally:
        store.close()


def test_a_grader_lacking_a_parameter_would_be_caught() -> None:
    class Narrow:
        def grade(self, lesson, answers):
            return None

    assert _conforms(Narrow, GraderLike) == ["grade"]


def test_no_module_of_the_package_is_over_700_lines() -> None:
    """The shape's rule (DESIGN.md, docs/architecture.md): a module that outgrows 700 lines is split by job."""
    import tutor

    root = Path(tutor.__file__).parent
    long = {str(p.relative_to(root)): n for p in sorted(root.rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 700}
    assert long == {}
