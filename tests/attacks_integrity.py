"""Grading integrity: an answer may only be graded correct for what it computes itself.

Each route by which an answer could fetch the reference's value or function, or bend the comparison,
is tried twice: through the grader as a learner would type it (the AST policy refuses it as
`forbidden`), and with the policy switched off (the runtime alone must hold: the verdict is not
correct). The routes: Python's frames (a generator's, a traceback's, `f_back`, `f_locals`,
`f_globals`, code objects), modules that numpy and torch hold (`torch.sys`, `torch.importlib`,
`gc` through them), private attributes, computed attribute names, and dunder methods defined in a
block answer.
"""

from __future__ import annotations

import ast
import textwrap

import pytest

from tutor.grading.grader import Grader
from tutor.lesson import parse_lesson
from tutor.sandbox import Evaluator, policy

NUMPY_LESSON = '''+++
id = "integrity-numpy"
title = "Integrity (numpy)"
datasets = ["linear_regression"]
timeout = 10
+++

A lesson whose blanks an attacker would like to get for free.

## Fit

```python
{{helper:
def double(v):
    return 2 * v
}}
w, b = 0.5, 0.1
loss_list = []
for i in range(4):
    loss = {{loss: np.mean((y - (w * X + b)) ** 2)}}
    loss_list.append(loss)
    w = w + 0.25
```

```toml check
[compare]
loss_list = { rtol = 1e-6 }
```
'''

TORCH_LESSON = '''+++
id = "integrity-torch"
title = "Integrity (torch)"
framework = "torch"
datasets = ["linear_regression"]
timeout = 10
+++

The same in torch.

## Fit

```python
X_t = torch.tensor(X, dtype=torch.float32).reshape(-1, 1)
y_t = torch.tensor(y, dtype=torch.float32).reshape(-1, 1)
{{helper:
def double(v):
    return 2 * v
}}
w = torch.tensor(0.5)
losses = []
for i in range(4):
    loss = {{loss: torch.mean((y_t - w * X_t) ** 2)}}
    losses.append(loss.item())
    w = w + 0.25
```

```toml check
[compare]
losses = { rtol = 1e-5 }
```
'''

# ---- the routes, as a learner would write them -------------------------------------------------------
# Each is (helper block, loss expression). The helper is the learner's own code (a block blank); the
# expression calls it. Every route returns what it found, or 0.0 when it found nothing: a wrong value.

WALK = '''
def look(f):
    # Up the frames: a value named like the reference's, or the reference's function to call.
    while f is not None:
        for k, v in list(f.f_locals.items()):
            if k in ("ref", "reference", "expected", "value") and not callable(v):
                return v
            if k in ("ref_fn", "reference_fn") and callable(v):
                return v()
        f = f.f_back
    return 0.0
'''

ROUTES: dict[str, tuple[str, str]] = {
    "traceback frame": (WALK + '''
def steal():
    try:
        raise ValueError("x")
    except ValueError as e:
        return look(e.__traceback__.tb_frame)
''', "steal()"),
    "generator frame": (WALK + '''
def steal():
    box = []
    def gen():
        box.append(g.gi_frame.f_back)
        yield 1
    g = gen()
    next(g)
    return look(box[0])
''', "steal()"),
    "generator frame, in the expression": ("def double(v):\n    return 2 * v\n",
        "(lambda rec: rec(rec, next(g := (g.gi_frame.f_back for _ in [0]))))("
        "lambda rec, f: 0.0 if f is None else f.f_locals['ref'] if 'ref' in f.f_locals else rec(rec, f.f_back))"),
    "code objects of the program": ('''
def steal():
    try:
        raise ValueError("x")
    except ValueError as e:
        f = e.__traceback__.tb_frame
    while f.f_back is not None:
        f = f.f_back
    fn = type(steal)
    for c in f.f_code.co_consts:
        if type(c) is type(steal.__code__) and c.co_name == "<lambda>" and not c.co_freevars:
            try:
                v = fn(c, f.f_globals)()
            except Exception:
                continue
            if v is not None and v is not steal:
                return v
    return 0.0
''', "steal()"),
    "the hooks through f_globals": ('''
def steal():
    try:
        raise ValueError("x")
    except ValueError as e:
        f = e.__traceback__.tb_frame
    rt = f.f_globals["__tutor_blank__"].__self__
    rt.same = lambda *a: True
    rt._record = lambda *a: True
    return 0.0
''', "steal()"),
    "gc object walk through the real builtins": ('''
def steal():
    try:
        raise ValueError("x")
    except ValueError as e:
        f = e.__traceback__.tb_frame
    while f.f_back is not None:
        f = f.f_back
    gc = f.f_builtins["__import__"]("gc")
    for o in gc.get_objects():
        if type(o).__name__ == "Runtime":
            o.same = lambda *a: True
    return 0.0
''', "steal()"),
    "a float that says it is equal": ('''
class Liar(float):
    def __eq__(self, other):
        return True
    def __sub__(self, other):
        return 0.0
    def __rsub__(self, other):
        return 0.0
    def __abs__(self):
        return 0.0
    def __float__(self):
        return 0.0
''', "Liar(123.0)"),
    "an array that compares close": ('''
class Liar(np.ndarray):
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return np.zeros(())
    def __sub__(self, other):
        return np.zeros(())
''', "np.asarray(123.0).view(Liar)"),
}

TORCH_ROUTES: dict[str, tuple[str, str]] = {
    "torch.sys to the runtime module": ('''
def steal():
    rt = torch.sys.modules["tutor.sandbox.runtime"]
    rt.Runtime.same = lambda *a: True
    rt.Runtime._record = lambda *a: True
    return torch.tensor(0.0)
''', "steal()"),
    "torch.importlib to gc": ('''
def steal():
    gc = torch.importlib.import_module("gc")
    for o in gc.get_objects():
        if type(o).__name__ == "Runtime":
            o.same = lambda *a: True
    return torch.tensor(0.0)
''', "steal()"),
    "a tensor whose torch function lies": ('''
class Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return torch.zeros(())
''', "torch.tensor(123.0).as_subclass(Liar)"),
    "torch.ctypes": ('''
def steal():
    torch.ctypes.CDLL(None)
    return torch.tensor(0.0)
''', "steal()"),
}

# Routes the policy must refuse in an expression alone (no helper needed): frames, modules, private
# and computed attribute names, strings and bytes spelling a dunder.
EXPRESSION_ROUTES = [
    "(q for q in [0]).gi_frame",
    "next(iter([0])).f_back",
    "np._core.umath.add(0, 0)",
    "torch._C._get_tracing_state()",
    "torch.ctypes.CDLL(None)",
    "torch.importlib.import_module('gc')",
    "np.lib.npyio.os.getcwd()",
    "torch.multiprocessing.reductions.mp",
    "torch.builtins.eval('1')",
    "torch.operator.attrgetter('x')",
    "np.mean.func_globals",
    "(lambda: 0).co_consts",
    "vars(np)",
    "dir(np)",
    "getattr(np, 'mean')(y)",
    "hasattr(np, 'x')",
    "b'\\x5f\\x5fclass\\x5f\\x5f'.decode()",
    "'_' + '_class__'",
]

BLOCK_ROUTES = [
    "class A(float):\n    def __eq__(self, o):\n        return True\n",
    "class A(np.ndarray):\n    def __array_ufunc__(self, *a, **k):\n        return 0\n",
    "class A(torch.Tensor):\n    def __torch_function__(cls, *a, **k):\n        return 0\n",
    "class A:\n    def __getattr__(self, name):\n        return 0\n",
    "class M(type):\n    pass\nclass A(metaclass=M):\n    pass\n",
    "def f(__x):\n    return __x\n",
    "class A:\n    def __init__(self):\n        self._x = 1\n",
]


@pytest.fixture(scope="module")
def integrity_grader():
    with Evaluator(preload=("numpy", "torch")) as ev:
        yield Grader(ev)


def _lesson(tmp_path_factory: pytest.TempPathFactory, text: str, name: str):
    path = tmp_path_factory.mktemp("integrity") / name
    path.write_text(text)
    return parse_lesson(path)


@pytest.fixture(scope="module")
def numpy_lesson(tmp_path_factory: pytest.TempPathFactory):
    return _lesson(tmp_path_factory, NUMPY_LESSON, "001-integrity-numpy.md")


@pytest.fixture(scope="module")
def torch_lesson(tmp_path_factory: pytest.TempPathFactory):
    return _lesson(tmp_path_factory, TORCH_LESSON, "002-integrity-torch.md")


@pytest.fixture
def no_policy(monkeypatch: pytest.MonkeyPatch):
    """The grader with the AST policy switched off: what the runtime alone holds."""
    monkeypatch.setattr(policy, "check", lambda tree: [])


def _answers(lesson, helper: str, loss: str) -> dict[str, str]:
    return {**lesson.reference_answers(), "helper": textwrap.dedent(helper).strip("\n") + "\n", "loss": loss}


def test_the_reference_answers_pass_and_a_wrong_one_does_not(integrity_grader, numpy_lesson, torch_lesson) -> None:
    # The lessons themselves are sound: a verdict "not correct" below is the route's failing, not theirs.
    for les in (numpy_lesson, torch_lesson):
        assert integrity_grader.grade(les, les.reference_answers()).passed
        report = integrity_grader.grade(les, {**les.reference_answers(), "loss": "0.0"})
        assert report.blanks["loss"].verdict != "correct"


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_route_to_the_reference_is_refused_by_the_policy(integrity_grader, numpy_lesson, route: str) -> None:
    helper, loss = ROUTES[route]
    report = integrity_grader.grade(numpy_lesson, _answers(numpy_lesson, helper, loss))
    verdicts = {n: (b.verdict, b.diagnosis) for n, b in report.blanks.items()}
    assert verdicts["loss"][0] != "correct", verdicts
    assert "forbidden" in (verdicts["helper"][1], verdicts["loss"][1]), verdicts


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_route_to_the_reference_fails_in_the_runtime_alone(integrity_grader, numpy_lesson, no_policy, route: str) -> None:
    helper, loss = ROUTES[route]
    report = integrity_grader.grade(numpy_lesson, _answers(numpy_lesson, helper, loss))
    b = report.blanks["loss"]
    assert b.verdict != "correct", (route, b.verdict, b.diagnosis, b.message)
    assert not report.passed


@pytest.mark.parametrize("route", list(TORCH_ROUTES))
def test_a_torch_route_is_refused_by_the_policy(integrity_grader, torch_lesson, route: str) -> None:
    helper, loss = TORCH_ROUTES[route]
    report = integrity_grader.grade(torch_lesson, _answers(torch_lesson, helper, loss))
    verdicts = {n: (b.verdict, b.diagnosis) for n, b in report.blanks.items()}
    assert verdicts["loss"][0] != "correct", verdicts
    assert "forbidden" in (verdicts["helper"][1], verdicts["loss"][1]), verdicts


@pytest.mark.parametrize("route", list(TORCH_ROUTES))
def test_a_torch_route_fails_in_the_runtime_alone(integrity_grader, torch_lesson, no_policy, route: str) -> None:
    helper, loss = TORCH_ROUTES[route]
    report = integrity_grader.grade(torch_lesson, _answers(torch_lesson, helper, loss))
    b = report.blanks["loss"]
    assert b.verdict != "correct", (route, b.verdict, b.diagnosis, b.message)


def test_after_the_routes_an_honest_answer_is_still_graded_on_its_merits(integrity_grader, numpy_lesson, torch_lesson, no_policy) -> None:
    # Nothing a route did in one run (a patched class, a hook) reaches the next run: each is a fresh child.
    for les, routes in ((numpy_lesson, ROUTES), (torch_lesson, TORCH_ROUTES)):
        for helper, loss in routes.values():
            integrity_grader.grade(les, _answers(les, helper, loss))
        assert integrity_grader.grade(les, les.reference_answers()).passed
        assert integrity_grader.grade(les, {**les.reference_answers(), "loss": "0.0"}).blanks["loss"].verdict != "correct"


@pytest.mark.parametrize("text", EXPRESSION_ROUTES)
def test_the_policy_refuses_every_way_out_of_an_expression(text: str) -> None:
    assert policy.check(ast.parse(text, mode="eval")), text


@pytest.mark.parametrize("text", BLOCK_ROUTES)
def test_the_policy_refuses_dunder_methods_and_private_state_in_blocks(text: str) -> None:
    assert policy.check(ast.parse(text)), text


@pytest.mark.parametrize("text", [
    "np.mean((y - (w * X + b)) ** 2)", "((w * X + b - y) ** 2).mean()", "np.stack([X, y]).sum()",
    "torch.stack([X_t]).mean()", "x.copy()", "np.random.rand(3)", "optimizer.zero_grad()", "w.grad.zero_()",
    "t.select(0, 1)", "np.array([1.0]).trace()", "losses.clear()", "super().__init__()", "np.linalg.norm(X)",
    "torch.nn.functional.relu(x)", "F.mse_loss(a, b, reduction='sum')", "nn.Sequential(nn.Linear(1, 10), nn.ReLU())",
])
def test_the_policy_leaves_lesson_code_alone(text: str) -> None:
    assert policy.check(ast.parse(text)) == [], text


def test_the_policy_allows_the_dunder_methods_a_dataset_needs() -> None:
    src = ("class D(torch.utils.data.Dataset):\n    def __init__(self, X):\n        super().__init__()\n"
           "        self.X = X\n    def __len__(self):\n        return len(self.X)\n    def __getitem__(self, i):\n        return self.X[i]\n")
    assert policy.check(ast.parse(src)) == []


def test_a_program_cannot_take_a_frame_in_the_child(integrity_grader) -> None:
    ev = integrity_grader.evaluator
    routes = {
        "traceback": "try:\n    1 / 0\nexcept Exception as e:\n    print(e.__traceback__.tb_frame)\n",
        "generator": "g = (x for x in [1])\nprint(g.gi_frame)\n",
        "code": "print((lambda: 0).__code__)\n",
        "function from code": "f = lambda: 0\nprint(type(f)(f.__code__, {})())\n",
    }
    for name, src in routes.items():
        (out,) = ev.run([{"id": name, "source": src, "names": ["np"], "timeout": 5.0, "filename": "<lesson>"}])
        assert out.header["status"] == "error", (name, out.stdout)
        assert "frame" not in out.stdout and "code object" not in out.stdout, (name, out.stdout)
    # numpy and torch keep their own stack inspection: seeding torch formats a stack internally.
    (out,) = ev.run([{"id": "seed", "source": "torch.manual_seed(0)\nprint(torch.rand(1).shape)\n",
                      "names": ["torch"], "timeout": 5.0}])
    assert out.header["status"] == "ok" and out.stdout == "torch.Size([1])\n", out


def test_numpy_and_torch_are_seen_without_the_modules_they_hold(integrity_grader) -> None:
    ev = integrity_grader.evaluator
    probes = "".join(f"try:\n    torch.{name}\n    out.append('{name}')\nexcept AttributeError:\n    pass\n"
                     for name in ("os", "sys", "importlib", "ctypes", "builtins", "inspect", "_C"))
    src = ("out = []\n" + probes + "try:\n    np.ctypeslib.ctypes\n    out.append('ctypes')\nexcept AttributeError:\n    pass\n"
           "print(out, torch.nn.functional.relu(torch.tensor([-1.0, 2.0])).tolist(), np.random.RandomState(0).rand() < 1)\n")
    (out,) = ev.run([{"id": "views", "source": src, "names": ["np", "torch"], "timeout": 5.0}])
    assert out.header["status"] == "ok", out.header
    assert out.stdout == "[] [0.0, 2.0] True\n", out.stdout


STEALER = ("(lambda rec: rec(rec, next(g := (g.gi_frame.f_back for _ in [0]))))("
           "lambda rec, f: 0.0 if f is None else (lambda d: d['ref'] if 'ref' in d else d['ref_fn']() if 'ref_fn' in d "
           "else rec(rec, f.f_back))(f.f_locals))")


@pytest.mark.parametrize("mode", ["shadow", "check"])
def test_while_the_learner_runs_the_reference_does_not_exist_yet(numpy_lesson, mode: str) -> None:
    """Without the child's seal (in this process), a frame walk from the learner's expression finds
    neither the reference's value nor its function: both are made after the learner's call returns."""
    from tutor import datasets
    from tutor.grading import programs
    from tutor.sandbox import runtime

    class Marker:
        def set(self, i):
            pass

    answers = {**numpy_lesson.reference_answers(), "loss": STEALER}
    if mode == "shadow":
        prog = programs.build(numpy_lesson, answers=answers, shadow={"loss"})
    else:
        prog = programs.build(numpy_lesson, answers=answers, learner=set(answers), check={"loss"})
    job = {"source": prog.source, "names": ["np"], "blanks": [{}, {}], "filename": "<integrity>"}
    data = datasets.load("linear_regression")
    header, _ = runtime.execute(job, {"np": np_module()}, data, Marker())
    assert header["status"] == "ok", header["error"]
    trace = header["blanks"][str(prog.index["loss"])]
    assert trace["calls"] == 4 and trace["matched"] == 0, trace  # the stolen value would match every call


def np_module():
    import numpy

    return numpy


# tests/test_attacks.py collects this module's tests and fixtures (and re-runs them as `nobody`).
__all__ = [n for n, v in dict(globals()).items() if n.startswith("test_") or hasattr(v, "_fixture_function_marker")]
