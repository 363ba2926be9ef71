"""What a lesson program can reach in the child: its builtins (no open, exec, eval; imports only for
numpy and torch), numpy and torch through module views (no foreign modules, no private names), and,
once sealed, no frame or code object of its own making (an audit hook); `_plain` strips a learner's
subclass off a value before it is compared. See docs/sandbox.md, "Grading integrity"."""

from __future__ import annotations

import builtins
import sys
import types
from typing import Any

import numpy as np

_SAFE_BUILTIN_NAMES = (
    "abs all any bin bool bytes callable chr complex dict divmod enumerate filter float format frozenset "
    "hash hex int isinstance issubclass iter len list map max min next object oct ord pow print property "
    "range repr reversed round set slice sorted staticmethod classmethod str sum super tuple type zip "
    "ArithmeticError AssertionError AttributeError BaseException Exception IndexError KeyError LookupError NameError "
    "NotImplementedError OverflowError RuntimeError ImportError StopIteration TypeError ValueError ZeroDivisionError "
    "NotImplemented Ellipsis True False None __build_class__"
).split()


# numpy's and torch's C code import helper modules lazily through the running program's builtins
# (`np.ones(3).sum()` does), so the program needs an `__import__`: this one serves only the libraries
# themselves and modules already loaded. Learner code cannot name it (the AST policy), and security
# does not rest on it: the OS layers around the child do.
_IMPORTABLE = ("numpy", "torch")
_LOADED_OK = frozenset(
    "math cmath numbers operator functools itertools collections warnings typing types enum abc copy "
    "weakref contextlib dataclasses re string textwrap inspect linecache traceback".split()
)


def _library_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
    import importlib
    import sys

    top = name.partition(".")[0]
    if level == 0 and (top in _IMPORTABLE or (top in _LOADED_OK and name in sys.modules)):
        return importlib.__import__(name, globals, locals, fromlist, level)
    if level > 0 and isinstance(globals, dict) and str(globals.get("__package__") or "").partition(".")[0] in _IMPORTABLE:
        return importlib.__import__(name, globals, locals, fromlist, level)
    raise ImportError(f"importing {name!r} is not available in lessons")


def safe_builtins() -> dict[str, Any]:
    """The builtins a lesson program sees: no open, exec, eval, compile, input, help; imports only for numpy/torch."""
    out = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES if hasattr(builtins, name)}
    out["__import__"] = _library_import
    return out


# ---- what a program can reach ---------------------------------------------------------------


class ModuleView(types.ModuleType):
    """numpy or torch (or one of their submodules) as a lesson program sees it: every public name the
    module has, submodules of numpy and torch as views too, and nothing else: not the other modules
    the library happens to hold (`torch.os`, `torch.sys`, `torch.importlib`), not private names.
    Names are looked up once, then read from the view's own dict at module speed."""

    def __getattr__(self, name: str) -> Any:
        real = _VIEWED[id(self)]
        if name.startswith("_"):
            raise AttributeError(f"private attributes (like `.{name}`) are not available in lessons", name=name, obj=real)
        value = getattr(real, name)
        if isinstance(value, types.ModuleType):
            if str(getattr(value, "__name__", "")).partition(".")[0] not in _IMPORTABLE:
                raise AttributeError(f"`.{name}` is a module that is not available in lessons", name=name, obj=real)
            value = module_view(value)
        types.ModuleType.__setattr__(self, name, value)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        # `torch.backends.cudnn.deterministic = True` sets the library's flag, not the view's.
        real = _VIEWED[id(self)]
        if name.startswith("_"):
            raise AttributeError(f"private attributes (like `.{name}`) are not available in lessons", name=name, obj=real)
        setattr(real, name, value)
        types.ModuleType.__setattr__(self, name, value)

    def __dir__(self) -> list[str]:
        return [n for n in dir(_VIEWED[id(self)]) if not n.startswith("_")]


_VIEWED: dict[int, types.ModuleType] = {}  # id(view) -> the real module
_VIEWS: dict[int, ModuleView] = {}  # id(real module) -> its view


def module_view(module: Any) -> Any:
    """The view of `module` a program gets (one per module, shared by every run of this process)."""
    if not isinstance(module, types.ModuleType) or isinstance(module, ModuleView):
        return module
    view = _VIEWS.get(id(module))
    if view is None:
        view = ModuleView(module.__name__, getattr(module, "__doc__", None))
        _VIEWED[id(view)] = module
        _VIEWS[id(module)] = view
    return view


# Audit events that hand a program a frame, code it did not write, or every object of the process.
_SEALED_EVENTS = frozenset({
    "sys._getframe", "sys._getframemodulename", "sys._current_frames", "sys._current_exceptions",
    "sys.settrace", "sys.setprofile", "gc.get_objects", "gc.get_referrers", "gc.get_referents",
    "function.__new__", "code.__new__",
})
# Restricted attributes whose reads CPython audits as "object.__getattr__".
_SEALED_ATTRS = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_code", "gi_code", "cr_code", "ag_code", "__code__"})
SEALED_MESSAGE = "frames, code objects and tracebacks are not available in lessons"


class Seal:
    """An audit hook, installed once in the child before the program runs (it cannot be removed): code
    compiled as the program (`filename`) gets no frame, traceback frame, code object or object-graph
    walk for the rest of the process. numpy and torch keep theirs (`torch.manual_seed` formats a
    stack), and so does the runtime inside `trusted()` (reading a traceback's line numbers)."""

    def __init__(self, filename: str) -> None:
        trust = [0]
        getframe = sys._getframe

        def hook(event: str, args: tuple) -> None:
            if trust[0]:
                return
            if event == "object.__getattr__":
                if len(args) < 2 or args[1] not in _SEALED_ATTRS:
                    return
            elif event not in _SEALED_EVENTS:
                return
            trust[0] += 1
            try:
                caller = getframe(1).f_code.co_filename
            finally:
                trust[0] -= 1
            if caller == filename:
                raise RuntimeError(SEALED_MESSAGE)

        class _Trusted:
            def __enter__(self) -> None:
                trust[0] += 1

            def __exit__(self, *exc: Any) -> None:
                trust[0] -= 1

        self.trusted = _Trusted
        sys.addaudithook(hook)


class _Unsealed:
    """`trusted()` where no seal is installed (a runtime used in the worker itself, or in tests)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _plain(v: Any, torch: Any) -> Any:
    """The learner's value as plain numbers where it is a subclass of a number, array or tensor, so its
    own methods (`__eq__`, `__array_ufunc__`, `__torch_function__`) take no part in the comparison;
    called before the reference's value exists."""
    t = type(v)
    if t is float or t is np.float64 or t is np.ndarray or t is int or t is bool or v is None:
        return v
    if torch is not None and isinstance(v, torch.Tensor):
        if t is torch.Tensor or t is torch.nn.Parameter:
            return v
        with torch._C.DisableTorchFunctionSubclass():
            return torch.Tensor.as_subclass(v, torch.Tensor)
    if isinstance(v, np.ndarray):
        return np.asarray(v)
    if isinstance(v, float):
        return float(v)
    if isinstance(v, int):
        return int(v)
    return v
