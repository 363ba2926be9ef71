"""Isolation layers applied in the forked child before the learner's program runs, in order.

Each layer is an object with a `name`, `available()` (can it apply on this host?) and `apply(ctx)`.
A layer that is available but fails to apply raises `LayerFailed`; the child then exits with
`EXIT_LAYER_BASE + index` and never runs the program without it. A layer that is not available on
a host is skipped, and `active_layers()` does not name it, so the tutor can say what is missing.

Namespaces, Landlock and seccomp slot in later as more objects in `LAYERS` (before `NoNewPrivileges`
for those that need privileges, after it for seccomp).

Shipped (issue 2): new session, die-with-parent, stdio (stdin from /dev/null, stdout/stderr to the
capture pipe, every other descriptor closed but the result pipe), scrubbed environment, rlimits
(CPU, address space relative to the worker's size, file size 0, open files, core 0),
no-new-privileges. RLIMIT_NPROC is not set: it counts every process of the user (so a small value
breaks a learner's other work on a shared host) and root ignores it; the seccomp layer will forbid
fork instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import math
import os
import resource
import signal
import sys
from dataclasses import dataclass, field
from typing import Protocol

EXIT_LAYER_BASE = 100  # the child exits with EXIT_LAYER_BASE + index of the layer that failed

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39

NOFILE_LIMIT = 32
RESULT_FD = 3  # where the result pipe ends up in the child
ENV_KEEP = ("LANG", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass
class Context:
    """What the layers need to know about this child; filled by the worker before fork."""

    worker_pid: int
    capture_fd: int  # write end of the stdout/stderr pipe
    result_fd: int  # write end of the result pipe; RESULT_FD after the stdio layer
    timeout: float
    memory_mb: int
    base_vm_bytes: int  # the worker's virtual size just before fork
    output_cap: int = 64 * 1024  # the child stops writing output a little past this (the worker caps anyway)
    env: dict[str, str] = field(default_factory=dict)  # the environment the program sees


class LayerFailed(Exception):
    """An available layer could not be applied; the child must not run the program."""

    def __init__(self, index: int, name: str, reason: str) -> None:
        super().__init__(f"isolation layer `{name}` could not be applied: {reason}")
        self.index = index
        self.name = name


class Layer(Protocol):
    name: str

    def available(self) -> bool: ...

    def apply(self, ctx: Context) -> None: ...


_libc: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL | None:
    """The C library (loaded once, in the worker, before any fork), or None off glibc/musl."""
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        except OSError:
            _libc = None
    return _libc


def _prctl(option: int, arg: int = 0) -> int:
    lib = libc()
    if lib is None:
        raise OSError("prctl is not available")
    res = lib.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
    if res < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return res


class NewSession:
    """Its own session and process group: no controlling terminal, and one killpg ends all it started."""

    name = "session"

    def available(self) -> bool:
        return hasattr(os, "setsid")

    def apply(self, ctx: Context) -> None:
        os.setsid()


class DieWithParent:
    """SIGKILL when the worker dies, so no run outlives the evaluator."""

    name = "die-with-parent"

    def available(self) -> bool:
        return libc() is not None

    def apply(self, ctx: Context) -> None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != ctx.worker_pid:  # the worker died before the prctl took effect
            os._exit(EXIT_LAYER_BASE + LAYERS.index(self))


class _CappedStream(io.TextIOBase):
    """sys.stdout/stderr of the child: unbuffered writes to fd 1 (output survives a kill), and nothing
    past the cap, so a print flood costs no system calls once the worker would discard it anyway."""

    def __init__(self, fd: int, budget: list[int]) -> None:
        self._fd = fd
        self._budget = budget  # shared by stdout and stderr

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        if self._budget[0] > 0 and s:
            data = s.encode("utf-8", "backslashreplace")[: self._budget[0]]
            self._budget[0] -= len(data)
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        return len(s)

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return False


class Stdio:
    """stdin from /dev/null, stdout and stderr to the capture pipe, every other descriptor closed
    except the result pipe (moved to RESULT_FD)."""

    name = "stdio"

    def available(self) -> bool:
        return True

    def apply(self, ctx: Context) -> None:
        null = os.open(os.devnull, os.O_RDONLY)
        # Move the result pipe out of the way of 0-2 first, then put everything in place.
        result = os.dup(ctx.result_fd) if ctx.result_fd < RESULT_FD else ctx.result_fd
        capture = os.dup(ctx.capture_fd) if ctx.capture_fd <= RESULT_FD else ctx.capture_fd
        if result == capture:  # pragma: no cover - impossible for two live pipes
            raise OSError("the result and capture descriptors are the same")
        os.dup2(null, 0)
        os.dup2(capture, 1)
        os.dup2(capture, 2)
        if result != RESULT_FD:
            os.dup2(result, RESULT_FD)
        ctx.result_fd = RESULT_FD
        os.set_inheritable(RESULT_FD, False)
        keep = {0, 1, 2, RESULT_FD}
        try:
            fds = [int(n) for n in os.listdir("/proc/self/fd")]
        except OSError:
            fds = list(range(resource.getrlimit(resource.RLIMIT_NOFILE)[0]))
        for fd in fds:
            if fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        budget = [ctx.output_cap + 4096]  # a little past the worker's cap, so it sees the truncation
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
        sys.stdout = _CappedStream(1, budget)
        sys.stderr = _CappedStream(2, budget)


class ScrubbedEnvironment:
    """Only a minimal environment is visible to the program (no tokens, paths or user settings)."""

    name = "environment"

    def available(self) -> bool:
        return True

    def apply(self, ctx: Context) -> None:
        keep = ctx.env or {k: os.environ[k] for k in ENV_KEEP if k in os.environ}
        os.environ.clear()
        os.environ.update(keep)


def _set(which: int, soft: int, hard: int | None = None) -> None:
    hard = soft if hard is None else hard
    _, cur_hard = resource.getrlimit(which)
    if cur_hard != resource.RLIM_INFINITY:
        hard = min(hard, cur_hard)
        soft = min(soft, hard)
    resource.setrlimit(which, (soft, hard))


def cpu_limit(timeout: float) -> int:
    """RLIMIT_CPU soft seconds for a job: SIGXCPU one second after the wall-clock deadline at the latest."""
    return max(1, math.ceil(timeout) + 1)


def address_space_limit(base_vm_bytes: int, memory_mb: int) -> int:
    return int(base_vm_bytes) + int(memory_mb) * 1024 * 1024


class Rlimits:
    """CPU seconds, address space (worker size + the job's memory), no file content, few descriptors, no core."""

    name = "rlimits"

    def available(self) -> bool:
        return hasattr(resource, "RLIMIT_AS")

    def apply(self, ctx: Context) -> None:
        cpu = cpu_limit(ctx.timeout)
        _set(resource.RLIMIT_CPU, cpu, cpu + 1)
        _set(resource.RLIMIT_AS, address_space_limit(ctx.base_vm_bytes, ctx.memory_mb))
        _set(resource.RLIMIT_FSIZE, 0)
        _set(resource.RLIMIT_NOFILE, NOFILE_LIMIT)
        _set(resource.RLIMIT_CORE, 0)


class NoNewPrivileges:
    """execve can never gain privileges (setuid binaries, file capabilities)."""

    name = "no-new-privileges"

    def available(self) -> bool:
        try:
            return libc() is not None and _prctl(PR_GET_NO_NEW_PRIVS) >= 0
        except OSError:
            return False

    def apply(self, ctx: Context) -> None:
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        if _prctl(PR_GET_NO_NEW_PRIVS) != 1:
            raise OSError("the kernel did not keep the flag")


LAYERS: list[Layer] = [NewSession(), DieWithParent(), Stdio(), ScrubbedEnvironment(), Rlimits(), NoNewPrivileges()]

_available: list[bool] | None = None


def _availability() -> list[bool]:
    global _available
    if _available is None:
        out = []
        for layer in LAYERS:
            try:
                out.append(bool(layer.available()))
            except Exception:  # noqa: BLE001 - a probe that fails means "not here"
                out.append(False)
        _available = out
    return _available


def active_layers() -> list[str]:
    """Names of the layers that apply on this host, in the order they apply."""
    return [layer.name for layer, ok in zip(LAYERS, _availability()) if ok]


def apply_all(ctx: Context) -> None:
    """Apply every available layer in order; raise LayerFailed on the first that fails."""
    for index, (layer, ok) in enumerate(zip(LAYERS, _availability())):
        if not ok:
            continue
        try:
            layer.apply(ctx)
        except LayerFailed:
            raise
        except BaseException as exc:  # noqa: BLE001 - any failure means: do not run the program
            raise LayerFailed(index, layer.name, f"{type(exc).__name__}: {exc}") from None


def reason_for_exit(code: int | None) -> str | None:
    """The sentence for a child exit code that means a layer failed, else None."""
    if code is None or not EXIT_LAYER_BASE <= code < EXIT_LAYER_BASE + len(LAYERS):
        return None
    return f"the isolation layer `{LAYERS[code - EXIT_LAYER_BASE].name}` could not be applied, so the program was not run"
