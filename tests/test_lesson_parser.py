"""The lesson parser: valid files give the right model, every mistake gives its file:line and a sentence."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tutor.lesson import (
    Lesson,
    LessonError,
    Segment,
    find_lesson,
    load_lessons,
    parse_lesson,
    parse_lesson_text,
    reference_program,
    render_step,
)

FIXTURES = Path(__file__).parent / "fixtures" / "lessons"
NUMPY = FIXTURES / "001-mini-numpy.md"
TORCH = FIXTURES / "002-mini-torch.md"
HEADER = '+++\nid = "x"\ntitle = "T"\n+++\n'


def problems_of(text: str) -> list[tuple[int, str]]:
    """The (line, sentence) of each problem of a lesson text that must fail."""
    with pytest.raises(LessonError) as caught:
        parse_lesson_text(text, "f.md")
    return [(p.location.line, p.message) for p in caught.value.problems]


def lesson_of(body: str) -> Lesson:
    return parse_lesson_text(HEADER + body, "f.md")


def expand_template(code: str) -> str:
    """A one-line-blanks template with every blank textually replaced by its answer."""
    return re.sub(r"\{\{\s*\w+\s*:\s*(.*?)\s*\}\}", lambda m: m.group(1), code)


# ----------------------------------------------------------------------------------------------
# Valid lessons


def test_numpy_fixture_fields():
    lesson = parse_lesson(NUMPY)
    assert (lesson.id, lesson.title, lesson.framework) == ("mini-numpy", "Mini numpy", "numpy")
    assert lesson.names == ("np",)
    assert lesson.datasets == ["linear_regression"]
    assert lesson.timeout == 5.0 and lesson.seed == 0 and lesson.order == 1
    assert lesson.intro == "A tiny lesson for the tests."
    assert lesson.setup == "n = len(X)\n" and lesson.setup_lines == [11]
    [step] = lesson.steps
    assert step.title == "Fit a line" and step.prose == "Fill the loss."
    assert step.location.line == 14 and step.code_location.line == 19
    assert step.code_lines == [19, 20, 21, 22, 23]
    blank = lesson.blanks["loss"]
    assert blank.kind == "expression" and blank.answer == "np.mean((y - (w * X + b)) ** 2)"
    assert (blank.location.line, blank.location.col) == (22, 12)
    assert (blank.code_line, blank.code_col) == (3, 11)
    assert step.code.split("\n")[3][11:].startswith("{{loss:")
    assert blank.hints == ["Mean of squared errors.", "np.mean of the squares."]
    assert blank.diagnosis_hints == {"sign_flipped": "A square is never negative."}
    [compare] = step.compare
    assert (compare.expr, compare.rtol, compare.atol, compare.location.line) == ("loss_list", 1e-4, 1e-6, 28)
    assert step.charts == {"loss": "loss_list"}


def test_torch_fixture_blank_kinds_and_places():
    lesson = parse_lesson(TORCH)
    assert lesson.names == ("np", "torch", "nn", "optim", "F") and lesson.seed == 3
    kinds = {b.name: b.kind for b in lesson.blank_list()}
    assert kinds == {"linear": "expression", "forward": "block", "zero_grad": "statement", "step": "statement"}
    places = {b.name: (b.step, b.location.line, b.location.col) for b in lesson.blank_list()}
    assert places == {"linear": (0, 30, 23), "forward": (0, 33, 9), "zero_grad": (1, 48, 5), "step": (1, 51, 15)}
    forward = lesson.blanks["forward"]
    assert forward.indent == " " * 8 and forward.answer == "out = self.linear(x)\nreturn out"
    assert lesson.blanks["step"].diagnosis_hints["no_effect"].startswith("The weights never moved")
    assert [c.expr for c in lesson.steps[1].compare] == ["losses", "model.linear.weight"]


def test_two_python_blocks_of_a_step_are_one_program_and_other_fences_stay_prose():
    lesson = parse_lesson(TORCH)
    first = lesson.steps[0]
    assert first.code.startswith("X_t = torch.tensor")
    assert first.code_lines[:3] == [20, 21, 27]
    assert first.code.split("\n")[2] == "class Model(nn.Module):"
    assert "Prose between two programs." in first.prose and "```" not in first.prose
    assert "## not a step" in lesson.intro and len(lesson.steps) == 2


def test_block_segment_covers_whole_lines():
    step = parse_lesson(TORCH).steps[0]
    index = next(i for i, s in enumerate(step.segments) if s.blank == "forward")
    before, after = step.segments[index - 1], step.segments[index + 1]
    assert before.text.endswith("    def forward(self, x):\n")
    assert after.text.startswith("\n\nmodel = Model()")
    inline = [s for s in step.segments if s.blank is not None]
    assert inline == [Segment(blank="linear"), Segment(blank="forward")]


def test_segments_rebuild_the_template():
    for lesson in load_lessons(FIXTURES):
        for step in lesson.steps:
            lines = step.code.split("\n")
            for name in step.blanks:
                blank = lesson.blanks[name]
                assert lines[blank.code_line][blank.code_col :].startswith("{{" + name)
            text = "".join(s.text for s in step.segments if s.blank is None)
            template_without_blanks = re.sub(r"[ \t]*\{\{\w+:\n.*?\n[ \t]*\}\}\n", "", step.code, flags=re.S)
            template_without_blanks = re.sub(r"\{\{\w+: .*?\}\}", "", template_without_blanks)
            assert text == template_without_blanks


def test_render_step_gives_the_reference_and_reindents_blocks():
    lesson = parse_lesson(TORCH)
    first, second = lesson.steps
    reference = render_step(first, lesson, {})
    assert "        out = self.linear(x)\n        return out\n\n\nmodel = Model()\n" in reference
    assert "self.linear = nn.Linear(1, 1)\n" in reference
    assert render_step(first, lesson, lesson.reference_answers()) == reference
    assert render_step(second, lesson, {}) == expand_template(second.code)
    typed_answers = {"forward": "  h = x\n  return self.linear(h)\n\n", "linear": " nn.Linear(1, 2) "}
    typed = render_step(first, lesson, typed_answers)
    assert "    def forward(self, x):\n        h = x\n        return self.linear(h)\n\n" in typed
    assert "self.linear = nn.Linear(1, 2)\n" in typed
    ast.parse(typed)
    program = reference_program(lesson)
    ast.parse(program)
    assert program.index("X_t = torch") < program.index("optimizer = optim.SGD")


def test_reference_program_starts_with_setup():
    lesson = parse_lesson(NUMPY)
    program = reference_program(lesson)
    assert program.startswith("n = len(X)\n")
    assert "loss = np.mean((y - (w * X + b)) ** 2)" in program


def test_load_lessons_order_and_find():
    lessons = load_lessons(FIXTURES)
    assert [(l.id, l.order) for l in lessons] == [("mini-numpy", 1), ("mini-torch", 2)]
    assert find_lesson(lessons, "mini-torch").id == "mini-torch"
    assert find_lesson(lessons, "001-mini-numpy.md").id == "mini-numpy"
    assert find_lesson(lessons, "002-mini-torch").id == "mini-torch"
    assert find_lesson(lessons, "nope") is None


def test_load_lessons_sorts_by_number_then_name(tmp_path):
    text = NUMPY.read_text()
    for name, lesson_id in [("10-b.md", "b"), ("9-a.md", "a"), ("10-a.md", "c"), ("intro.md", "d")]:
        (tmp_path / name).write_text(text.replace('"mini-numpy"', f'"{lesson_id}"'))
    (tmp_path / "README.md").write_text("not a lesson")
    (tmp_path / "notes.txt").write_text("not a lesson")
    lessons = load_lessons(tmp_path)
    found = [(l.path.name, l.order) for l in lessons]
    assert found == [("9-a.md", 9), ("10-a.md", 10), ("10-b.md", 10), ("intro.md", 0)]


def test_kinds_of_one_line_blanks():
    lesson = lesson_of(
        "## S\n```python\n"
        "opt = SGD(p, {{kw: lr=0.1}})\n"  # a keyword argument is not an expression
        "{{target: w}} = 3\n"  # an assignment target
        "x = {{item: w}}[0]\n"
        "print(x)  {{tail: # done}}\n"
        "optimizer.{{call: step}}()\n"
        "{{alone: print(x)}}  # a comment\n"
        "d = {{d: {'a': {'b': 1}}}}\n"
        'label = f"{{x}}"\n'  # an f-string's escaped braces are code
        "total = sum(\n"
        "    {{arg: [1, 2]}}\n"  # a whole line, but inside brackets: an argument
        ")\n"
        "## a comment, not a step\n"
        "```\n"
    )
    kinds = {b.name: b.kind for b in lesson.blank_list()}
    assert kinds == {
        "kw": "statement",
        "target": "statement",
        "item": "expression",
        "tail": "statement",
        "call": "statement",
        "alone": "statement",
        "d": "expression",
        "arg": "expression",
    }
    assert lesson.blanks["d"].answer == "{'a': {'b': 1}}"
    assert len(lesson.steps) == 1


def test_block_answer_may_close_nested_braces_at_a_line_end():
    lesson = lesson_of(
        '## S\n```python\ndef f():\n    {{cfg:\n    d = {"a": {\n        "b": 1}}\n    return d\n    }}\n```\n'
    )
    assert lesson.blanks["cfg"].answer == 'd = {"a": {\n    "b": 1}}\nreturn d'


def test_crlf_and_bom_are_read_like_lf():
    text = "\ufeff" + NUMPY.read_text().replace("\n", "\r\n")
    lesson = parse_lesson_text(text, "x.md")
    assert lesson.blanks["loss"].location.line == 22
    assert "\r" not in lesson.steps[0].code


# ----------------------------------------------------------------------------------------------
# Problems: each one at its line, in a sentence


STEP = "## S\n```python\n"  # step heading at line 5, its code starts at line 7

PROBLEMS = [
    (
        "unclosed blank",
        HEADER + STEP + "x = 1\ndw = {{dw: np.mean(x)}\ny = 2\n```\n",
        8,
        "the blank `dw` is never closed",
    ),
    (
        "duplicate blank",
        HEADER + STEP + "x = {{a: 1}}\n```\n## T\n```python\ny = {{a: 2}}\n```\n",
        11,
        "two blanks are named `a` (the other is at line 7)",
    ),
    (
        "missing id",
        '+++\ntitle = "T"\n+++\n' + "## S\n```python\nx = 1\n```\n",
        1,
        "the header is missing `id`",
    ),
    ("missing title", '+++\nid = "x"\n+++\n' + "## S\n```python\nx = 1\n```\n", 1, "missing `title`"),
    (
        "bad id",
        '+++\nid = "My Lesson"\ntitle = "T"\n+++\n## S\n```python\nx = 1\n```\n',
        2,
        "lowercase letters",
    ),
    (
        "unknown header key",
        HEADER[:-4] + "colour = 1\n+++\n## S\n```python\nx = 1\n```\n",
        4,
        "unknown header key `colour`",
    ),
    ("bad timeout", HEADER[:-4] + "timeout = -1\n+++\n## S\n```python\nx = 1\n```\n", 4, "timeout"),
    ("bad seed", HEADER[:-4] + 'seed = "a"\n+++\n## S\n```python\nx = 1\n```\n', 4, "seed"),
    ("bad framework", HEADER[:-4] + 'framework = "jax"\n+++\n## S\n```python\nx = 1\n```\n', 4, "framework"),
    ("bad datasets", HEADER[:-4] + 'datasets = "a"\n+++\n## S\n```python\nx = 1\n```\n', 4, "datasets"),
    (
        "header toml",
        '+++\nid = "x"\ntitle = T\n+++\n## S\n```python\nx = 1\n```\n',
        3,
        "the header is not valid TOML",
    ),
    ("no header", "## S\n```python\nx = 1\n```\n", 1, "must start with a header"),
    ("unclosed header", '+++\nid = "x"\n', 1, "never closed"),
    ("no steps", HEADER + "Only prose.\n", 5, "no steps"),
    ("step without program", HEADER + "## S\nprose\n## T\n```python\nx = 1\n```\n", 5, "step 1 has no program"),
    ("unclosed fence", HEADER + STEP + "x = 1\n", 6, "never closed"),
    (
        "program before first step",
        HEADER + "```python\nx = 1\n```\n## S\n```python\ny = 1\n```\n",
        5,
        "before the first step",
    ),
    (
        "setup after a step",
        HEADER + STEP + "x = 1\n```\n```python setup\ny = 1\n```\n",
        9,
        "before the first step",
    ),
    (
        "two setup blocks",
        HEADER + "```python setup\na = 1\n```\n```python setup\nb = 1\n```\n" + STEP + "x = 1\n```\n",
        8,
        "second ```python setup",
    ),
    (
        "blank in setup",
        HEADER + "```python setup\na = {{a: 1}}\n```\n" + STEP + "x = 1\n```\n",
        6,
        "setup code cannot contain blanks",
    ),
    ("empty answer", HEADER + STEP + "x = {{a:  }}\n```\n", 7, "has no answer"),
    ("stray brace", HEADER + STEP + "x = {{a: f(1)} + 2}}\n```\n", 7, "closes no {"),
    ("multi-line inline blank", HEADER + STEP + "x = {{a: f(1,\n  2)}}\n```\n", 7, "runs over several lines"),
    (
        "block not on its own line",
        HEADER + STEP + "def f():\n    x = {{body:\n    return 1\n    }}\n```\n",
        8,
        "line of its own",
    ),
    ("block never closed", HEADER + STEP + "def f():\n    {{body:\n    return 1\n```\n", 8, "never closed"),
    (
        "block closed at end of a line",
        HEADER + STEP + "def f():\n    {{body:\n    return 1}}\n```\n",
        9,
        "alone on its own line",
    ),
    ("nested blanks", HEADER + STEP + "x = {{a: {{b: 1}}}}\n```\n", 7, "blanks cannot sit inside blanks"),
    (
        "syntax error",
        HEADER + STEP + "x = 1\nfor i in range(3):\ny = 2\n```\n",
        9,
        "the program of step 1 is not valid Python at line 9",
    ),
    (
        "syntax error in an answer",
        HEADER + STEP + "x = 1\ny = {{a: 2 +}}\n```\n",
        8,
        "in the answer of blank `a`",
    ),
    (
        "syntax error in a block",
        HEADER + STEP + "def f():\n    {{b:\n    x = (\n    }}\n```\n",
        9,
        "in the answer of blank `b`",
    ),
    (
        "syntax error in setup",
        HEADER + "```python setup\na = (\n```\n" + STEP + "x = 1\n```\n",
        6,
        "the setup code is not valid Python",
    ),
    ("answer needs parentheses", HEADER + STEP + "x = 2 * {{a: b + c}}\n```\n", 7, "put it in parentheses"),
    (
        "unknown fence marker",
        HEADER + "## S\n```python setpu\nx = 1\n```\n",
        6,
        "`python setpu` is not understood",
    ),
    (
        "two check blocks",
        HEADER + STEP + "x = 1\n```\n```toml check\n```\n```toml check\n```\n",
        11,
        "second ```toml check block (the first is at line 9)",
    ),
    (
        "check toml syntax",
        HEADER + STEP + "x = 1\n```\n```toml check\n[compare]\nloss = {\n```\n",
        12,
        "is not valid TOML",
    ),
    (
        "bad rtol",
        HEADER + STEP + "x = 1\n```\n## T\n```python\nw_list = []\n```\n"
        + '```toml check\n[compare]\nw_list = { rtol = "big" }\n```\n',

        15,
        'the check block of step 2 compares `w_list` with rtol = "big": rtol must be a number',
    ),
    (
        "compare not an expression",
        HEADER + STEP + 'x = 1\n```\n```toml check\n[compare]\n"x y" = {}\n```\n',
        11,
        "not a Python expression",
    ),
    (
        "compare dotted without quotes",
        HEADER + STEP + "x = 1\n```\n```toml check\n[compare]\nmodel.weight = {}\n```\n",
        11,
        "without quotes",
    ),
    (
        "compare value not a table",
        HEADER + STEP + "x = 1\n```\n```toml check\n[compare]\nx = 1\n```\n",
        11,
        "tolerances as a table",
    ),
    (
        "unknown table",
        HEADER + STEP + "x = 1\n```\n```toml check\n[plots]\nloss = \"x\"\n```\n",
        10,
        "unknown section `[plots]`",
    ),
    (
        "bad chart",
        HEADER + STEP + "x = 1\n```\n```toml check\n[charts]\nloss = 3\n```\n",
        11,
        "draws the chart `loss`",
    ),
    (
        "hints for a blank of another step",
        HEADER + STEP
        + "x = {{a: 1}}\n```\n## T\n```python\ny = 1\n```\n```toml check\n[blanks.a]\nhints = [\"h\"]\n```\n",
        14,
        "it is in step 1: move these settings",
    ),
    (
        "unknown blank setting",
        HEADER + STEP
        + "x = {{a: 1}}\n```\n```toml check\n[blanks.a]\nhints = [\"h\"]\nsign_flip = \"s\"\n```\n",
        12,
        "unknown setting `sign_flip`",
    ),
    (
        "hints not a list",
        HEADER + STEP + 'x = {{a: 1}}\n```\n```toml check\n[blanks.a]\nhints = "h"\n```\n',
        11,
        "list of sentences",
    ),
    (
        "diagnosis hint not text",
        HEADER + STEP + "x = {{a: 1}}\n```\n```toml check\n[blanks.a]\nscaled = 2\n```\n",
        11,
        "`scaled`",
    ),
    (
        "blank rtol negative",
        HEADER + STEP + "x = {{a: 1}}\n```\n```toml check\n[blanks.a]\natol = -1\n```\n",
        11,
        "atol must be a number",
    ),
]


@pytest.mark.parametrize("text, line, phrase", [case[1:] for case in PROBLEMS], ids=[case[0] for case in PROBLEMS])
def test_problem_is_reported_at_its_line(text, line, phrase):
    found = problems_of(text)
    assert any(l == line and phrase in message for l, message in found), found


def test_every_problem_is_collected():
    header = '+++\nid = "Bad Id"\ntitle = "T"\n+++\n'
    text = header + STEP + "x = {{a: 1}}\ny = {{a: 2}}\nz = {{c: 3}\n```\n## T\nno code\n"
    lines = sorted(l for l, _ in problems_of(text))
    assert lines == [2, 8, 9, 11]


def test_problem_strings_are_file_line_col():
    with pytest.raises(LessonError) as caught:
        parse_lesson_text(HEADER + STEP + "dw = {{dw: 1\n```\n", "lessons/001-x.md")
    assert str(caught.value).startswith("lessons/001-x.md:7:6: the blank `dw` is never closed")


def test_unreadable_and_non_utf8_files(tmp_path):
    with pytest.raises(LessonError) as caught:
        parse_lesson(tmp_path / "missing.md")
    assert caught.value.problems[0].location.line == 1
    bad = tmp_path / "001-bad.md"
    bad.write_bytes(b"+++\nid = \"x\"\ntitle = \"caf\xe9\"\n+++\n")
    with pytest.raises(LessonError) as caught:
        parse_lesson(bad)
    [problem] = caught.value.problems
    assert problem.location.line == 1 and "not UTF-8" in problem.message and "line 3" in problem.message


def test_load_lessons_folder_problems(tmp_path):
    with pytest.raises(LessonError, match="does not exist"):
        load_lessons(tmp_path / "nowhere")
    with pytest.raises(LessonError, match="has no lessons"):
        load_lessons(tmp_path)
    (tmp_path / "001-a.md").write_text(NUMPY.read_text())
    (tmp_path / "002-b.md").write_text(NUMPY.read_text())
    (tmp_path / "003-c.md").write_text("no header\n")
    with pytest.raises(LessonError) as caught:
        load_lessons(tmp_path)
    found = [(Path(p.location.path).name, p.location.line, p.message) for p in caught.value.problems]
    duplicate = "two lessons have the id `mini-numpy` (the other is 001-a.md): give each lesson its own id"
    assert ("002-b.md", 2, duplicate) in found
    assert any(name == "003-c.md" and "header" in message for name, _, message in found)


# ----------------------------------------------------------------------------------------------
# Fuzz: any text ends in a Lesson or a LessonError whose places are inside the file

VALID = [NUMPY.read_text(), TORCH.read_text()]
PIECES = ["{", "}", "{{", "}}", "+", "+++", "`", "```", "\n", "#", "## ", ":", "~~~", "{{a:", "\t", " ", '"', "="]
PIECES += ["[", "]"]


def assert_parses_or_reports(text: str) -> None:
    try:
        lesson = parse_lesson_text(text, "fuzz.md")
    except LessonError as error:
        assert error.problems
        last = len(text.splitlines()) + 1
        for problem in error.problems:
            assert 1 <= problem.location.line <= last, (problem, text)
            assert problem.location.col >= 1 and problem.message
    else:
        assert isinstance(lesson, Lesson)
        lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for blank in lesson.blank_list():
            assert lines[blank.location.line - 1][blank.location.col - 1 :].startswith("{{")
        for step in lesson.steps:
            reference = render_step(step, lesson, {})
            ast.parse(reference)
            assert render_step(step, lesson, lesson.reference_answers()) == reference


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("{}+`\n#:~ \r=[]\"'ab_()\x00é")) | st.characters(), max_size=300))
def test_fuzz_arbitrary_text(text):
    assert_parses_or_reports(text)


@st.composite
def mutated_lessons(draw):
    text = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(["insert", "delete", "duplicate", "drop_line", "copy_line"]))
        i = draw(st.integers(0, len(text)))
        if op == "insert":
            text = text[:i] + draw(st.sampled_from(PIECES)) + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 3)) :]
        elif op == "duplicate":
            j = min(len(text), i + draw(st.integers(1, 20)))
            text = text[:j] + text[i:j] + text[j:]
        else:
            lines = text.split("\n")
            k = draw(st.integers(0, len(lines) - 1))
            if op == "drop_line":
                del lines[k]
            else:
                lines.insert(draw(st.integers(0, len(lines))), lines[k])
            text = "\n".join(lines)
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_lessons())
def test_fuzz_mutated_lessons(text):
    assert_parses_or_reports(text)


BODY_PIECES = PIECES + ["```python\n", "```python setup\n", "```toml check\n", "x = ", "1", "def f():\n", "    "]
BODY_PIECES += ["[compare]\n", "[blanks.a]\n", 'hints = ["h"]\n', "a = {}\n"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(BODY_PIECES), max_size=40).map("".join))
def test_fuzz_bodies_under_a_valid_header(body):
    assert_parses_or_reports(HEADER + body)
