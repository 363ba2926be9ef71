"""Live values described as JSON-able dicts whose numbers travel as float64 arrays (the result
format, docs/sandbox.md), and the plain numbers the shadow comparison works on."""

from __future__ import annotations

import types
from typing import Any

import numpy as np

MAX_ELEMENTS = 2_000_000  # larger values are described without their data
MAX_TEXT = 300


def _short(text: str, limit: int = MAX_TEXT) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Encoder:
    """Describes live values as JSON-able dicts, collecting their numbers as float64 arrays."""

    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self._torch = None
        try:
            import sys

            self._torch = sys.modules.get("torch")
        except Exception:  # pragma: no cover
            self._torch = None

    def _add(self, arr: np.ndarray) -> int | None:
        if arr.size > MAX_ELEMENTS:
            return None
        self.arrays.append(np.ascontiguousarray(arr, dtype=np.float64))
        return len(self.arrays) - 1

    def is_tensor(self, v: Any) -> bool:
        return self._torch is not None and isinstance(v, self._torch.Tensor)

    def value(self, v: Any, depth: int = 0) -> dict:
        try:
            return self._value(v, depth)
        except Exception as exc:  # a hostile __array__ or property: describe, never raise
            return {"kind": "error", "message": _short(f"{type(exc).__name__}: {exc}")}

    def _numeric(self, arr: np.ndarray, typ: str, dtype: str, **extra: Any) -> dict:
        if arr.dtype.kind not in "biuf":
            return {"kind": "other", "type": typ, "text": _short(repr(arr))}
        return {
            "kind": "array",
            "type": typ,
            "dtype": dtype,
            "shape": [int(s) for s in arr.shape],
            "array": self._add(arr.astype(np.float64, copy=False)),
            **extra,
        }

    def _value(self, v: Any, depth: int) -> dict:
        torch = self._torch
        if v is None:
            return {"kind": "none"}
        if isinstance(v, bool):
            return self._numeric(np.asarray(float(v)), "bool", "bool")
        if isinstance(v, int):
            if abs(v) > 2**53:
                return {"kind": "other", "type": "int", "text": _short(repr(v))}
            return self._numeric(np.asarray(float(v)), "int", "int")
        if isinstance(v, float):
            return self._numeric(np.asarray(v), "float", "float")
        if isinstance(v, (np.ndarray, np.generic)):
            arr = np.asarray(v)
            return self._numeric(arr, "ndarray", str(arr.dtype), scalar=isinstance(v, np.generic))
        if self.is_tensor(v):
            t = v.detach()
            if t.is_complex() or t.dtype in (torch.bfloat16,) and False:
                return {"kind": "other", "type": "Tensor", "text": _short(repr(t))}
            arr = t.to("cpu").to(torch.float64).numpy() if t.numel() <= MAX_ELEMENTS else np.zeros(0)
            dtype = str(t.dtype).replace("torch.", "")
            return {
                "kind": "array",
                "type": "Tensor",
                "dtype": dtype,
                "shape": [int(s) for s in t.shape],
                "array": self._add(arr) if t.numel() <= MAX_ELEMENTS else None,
                "device": str(t.device),
                "requires_grad": bool(v.requires_grad),
                "is_leaf": bool(v.is_leaf),
            }
        if isinstance(v, (list, tuple)) and depth < 3:
            return self._sequence(v, depth)
        if torch is not None and isinstance(v, torch.nn.Module):
            return self._module(v, depth)
        if torch is not None and isinstance(v, torch.optim.Optimizer):
            return self._optimizer(v)
        typ = type(v)
        return {"kind": "other", "type": f"{typ.__module__}.{typ.__qualname__}", "text": _short(repr(v))}

    def _sequence(self, v: list | tuple, depth: int) -> dict:
        typ = type(v).__name__
        if len(v) == 0:
            return self._numeric(np.zeros(0), typ, "float")
        items = []
        dtypes = set()
        for item in v[: MAX_ELEMENTS + 1]:
            if isinstance(item, (bool, int, float)):
                items.append(float(item))
                dtypes.add(type(item).__name__)
            elif isinstance(item, (np.ndarray, np.generic)):
                items.append(np.asarray(item, dtype=np.float64) if np.asarray(item).dtype.kind in "biuf" else None)
                dtypes.add(str(np.asarray(item).dtype))
            elif self.is_tensor(item):
                items.append(item.detach().to("cpu").double().numpy())
                dtypes.add(str(item.dtype).replace("torch.", ""))
            else:
                items.append(None)
            if items[-1] is None:
                return {"kind": "other", "type": typ, "text": _short(repr(v))}
        try:
            arr = np.stack([np.asarray(i, dtype=np.float64) for i in items])
        except ValueError:
            return {"kind": "other", "type": typ, "text": _short(repr(v))}
        return self._numeric(arr, typ, dtypes.pop() if len(dtypes) == 1 else "mixed")

    def _config(self, obj: Any) -> dict:
        config: dict[str, Any] = {}
        for key in (
            "in_features", "out_features", "reduction", "negative_slope", "dim", "p", "eps",
            "num_features", "kernel_size", "stride", "padding", "training",
        ):  # not `inplace`: it changes no value a module computes
            if hasattr(obj, key):
                val = getattr(obj, key)
                if isinstance(val, (bool, int, float, str)) or val is None:
                    config[key] = val
                elif isinstance(val, tuple) and all(isinstance(x, int) for x in val):
                    config[key] = list(val)
        if hasattr(obj, "bias") and hasattr(obj, "in_features"):
            config["bias"] = obj.bias is not None
        return config

    def _module(self, m: Any, depth: int) -> dict:
        typ = type(m)
        desc: dict[str, Any] = {
            "kind": "object",
            "category": "module",
            "type": typ.__name__,
            "module": typ.__module__,
            "config": self._config(m),
            "params": [],
            "children": [],
        }
        for name, p in list(m.named_parameters(recurse=False))[:64]:
            data = p.detach().to("cpu").double().numpy() if p.numel() <= MAX_ELEMENTS else np.zeros(0)
            desc["params"].append({"name": name, "shape": list(p.shape), "array": self._add(data)})
        if depth < 4:
            # `_modules`, not `named_children()`, which lists a module used twice once: the layers of
            # `nn.Sequential(...) * 2` are the same modules twice, and its description must say so.
            children = [(name, child) for name, child in m._modules.items() if child is not None]
            for name, child in children[:64]:
                d = self._module(child, depth + 1)
                d["name"] = name
                desc["children"].append(d)
        return desc

    def _optimizer(self, opt: Any) -> dict:
        typ = type(opt)
        config: dict[str, Any] = {}
        groups = opt.param_groups
        if groups:
            for key, val in groups[0].items():
                if key == "params":
                    continue
                if isinstance(val, (bool, int, float, str)) or val is None:
                    config[key] = val
                elif isinstance(val, tuple) and all(isinstance(x, (int, float)) for x in val):
                    config[key] = list(val)
        shapes = [list(p.shape) for g in groups for p in g["params"]][:64]
        return {
            "kind": "object",
            "category": "optimizer",
            "type": typ.__name__,
            "module": typ.__module__,
            "config": config,
            "param_shapes": shapes,
        }


def _as_numbers(enc: Encoder, v: Any) -> tuple[str, np.ndarray | None, str, tuple]:
    """(family, float64 array or None, dtype, shape) for fast comparison in the shadow hook."""
    if isinstance(v, bool):
        return "scalar", np.float64(v), "bool", ()
    if isinstance(v, (int, float)):
        return "scalar", np.float64(v), "float", ()
    if isinstance(v, np.generic):
        if np.asarray(v).dtype.kind in "biuf":
            return "scalar", np.float64(v), str(v.dtype), ()
        return "other", None, "", ()
    if isinstance(v, np.ndarray):
        if v.dtype.kind in "biuf":
            return ("scalar" if v.ndim == 0 else "ndarray"), v.astype(np.float64, copy=False), str(v.dtype), v.shape
        return "other", None, "", v.shape
    if enc.is_tensor(v):
        t = v.detach()
        if t.is_complex():
            return "other", None, "", tuple(t.shape)
        return "tensor", t.to("cpu").double().numpy(), str(t.dtype), tuple(t.shape)
    return "other", None, "", ()


def _stateless(m: Any, torch: Any) -> bool:
    """A module with no parameters or buffers of its own or below (a loss, an activation)."""
    return next(iter(m.parameters()), None) is None and next(iter(m.buffers()), None) is None


def _callable_like(v: Any, torch: Any) -> bool:
    """A function (`F.mse_loss`, `torch.sigmoid`, a lambda): not a module, which is compared as one
    (`nn.L1Loss()` for `nn.MSELoss()` is the wrong loss, said at once)."""
    return isinstance(v, (types.FunctionType, types.BuiltinFunctionType)) or type(v).__name__ == "partial"


def _layers(m: Any, torch: Any) -> list[Any]:
    """A module as the list of layers it applies in order: Sequentials inside Sequentials flattened, and
    a layer applied twice listed twice (`nn.Sequential(...) * 2` holds the same seven modules twice, which
    `children()` would list once: the same parameters, twice the depth)."""
    if isinstance(m, torch.nn.Sequential):
        return [leaf for child in m._modules.values() if child is not None for leaf in _layers(child, torch)]
    return [m]


def _same_autograd(ref: Any, got: Any) -> bool:
    """What later lines rely on beyond the numbers: autograd tracks it, it is a leaf (so `.grad` is
    kept after backward), it lives on the same device."""
    return ref.requires_grad == got.requires_grad and ref.is_leaf == got.is_leaf and ref.device == got.device


def _strip_arrays(desc: Any) -> Any:
    """A module description without array indices, to compare two modules' structure."""
    if isinstance(desc, dict):
        return {k: _strip_arrays(v) for k, v in desc.items() if k not in ("array",)}
    if isinstance(desc, list):
        return [_strip_arrays(v) for v in desc]
    return desc
