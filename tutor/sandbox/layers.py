"""Isolation layers applied in the forked child before the learner's program runs, in order.

Each layer is an object with a `name`, `available()` (can it apply on this host?), an optional
`prepare()` (work done once in the worker before any fork: the Landlock ruleset, the seccomp BPF)
and `apply(ctx)`. A layer that is available but fails to apply raises `LayerFailed`; the child then
exits with `EXIT_LAYER_BASE + index` and never runs the program without it. A layer that is not
available on a host (or was disabled with `disable()`, which is how tests simulate a degraded host)
is skipped, and `active_layers()` does not name it, so the tutor can say what is missing and an
instructor can refuse to run without it (`Evaluator(require_isolation=True)`).

The order: session, die-with-parent, stdio (stdin from /dev/null, every other inherited
descriptor closed but the result pipe), environment, namespaces, rlimits, landlock,
no-new-privileges, seccomp (last: the earlier layers need the system calls it forbids).

Decisions:
- Namespaces: one `unshare(2)` (ctypes: this is Python 3.11) of user, network, IPC and mount
  namespaces for root and non-root alike, with the child's own uid and gid mapped to themselves
  and setgroups denied. For root this means the child's capabilities only reach its own namespaces
  (no host mounts, raw sockets, module loading, signals to other users); the new network namespace
  has only a down loopback, so no address on the host (127.0.0.1 included) is reachable.
- no-new-privileges also drops every capability (capset to zero): a child running as root keeps
  uid 0 for its own files (the interpreter under /root stays readable) but loses DAC override, so
  other users' homes are closed to it even on a host without Landlock.
- Landlock grants read-only access beneath the interpreter's standard library, the site-packages
  directories, the tutor package, /dev/null and /dev/urandom; nothing else (see landlock.py).
- RLIMIT_NPROC is not set: it counts every process of the user (so a small value breaks a
  learner's other work on a shared host) and root ignores it; seccomp forbids fork instead.
- Threads: Landlock, the capability drop and seccomp bind the thread that applies them
  (and every thread or process it starts later), not threads that already run. A forked child has
  one thread, but a pre-forked child warms numpy and torch before these layers go on (the worker's
  OMP/OpenBLAS/MKL settings and `torch.set_num_threads(1)` keep that single-threaded: checked).
  So right before the first of them (`per_thread`), `check_threads` counts /proc/self/task (still
  readable: Landlock is not on yet); with more than one thread, or none counted, the job is refused
  (`ThreadsNotIsolated`, one sentence, the program never runs) unless every such layer about to
  apply reaches all threads on this kernel: seccomp through SECCOMP_FILTER_FLAG_TSYNC, Landlock
  from ABI 8 (LANDLOCK_RESTRICT_SELF_TSYNC); capabilities have no all-threads form, so in practice
  the child must be single-threaded. seccomp and Landlock use their all-threads flags whenever the
  kernel has them anyway. Namespaces are not `per_thread`: unshare(CLONE_NEWUSER) itself fails in
  a multi-threaded process.
- Without seccomp (which forbids socket()) some socket families stay open; `open_socket_families`
  computes which from the active layers and the Landlock ABI, and `tutor doctor` prints it.
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
from typing import Iterable, Protocol, Sequence

from tutor.sandbox import landlock, seccomp

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
    keep_fds: tuple[int, ...] = ()  # prepared descriptors (the Landlock ruleset) the stdio layer keeps


class LayerFailed(Exception):
    """An available layer could not be applied; the child must not run the program."""

    def __init__(self, index: int, name: str, reason: str) -> None:
        super().__init__(f"isolation layer `{name}` could not be applied: {reason}")
        self.index = index
        self.name = name


class ThreadsNotIsolated(LayerFailed):
    """Threads besides the one applying the layers run in the child, and a layer about to apply would
    not reach them: the job is refused with this sentence, never run with a thread outside."""

    def __init__(self, index: int, name: str, reason: str) -> None:
        Exception.__init__(self, f"the sandbox could not isolate every thread of the run: {reason}; the run was refused")
        self.index = index
        self.name = name


class Layer(Protocol):
    name: str

    def available(self) -> bool: ...

    def apply(self, ctx: Context) -> None: ...


class ThreadScoped(Layer, Protocol):
    """A layer that binds the thread applying it (`per_thread = True`): can it reach the others here?"""

    def all_threads(self) -> bool: ...

    def thread_gap(self) -> str: ...


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
        keep = {0, 1, 2, RESULT_FD, *ctx.keep_fds}
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


CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x08000000, 0x10000000, 0x40000000
NAMESPACE_FLAGS = CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWNS


def _write_proc(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode("ascii"))
    finally:
        os.close(fd)


class Namespaces:
    """New user, network, IPC and mount namespaces: no network at all, no shared IPC objects."""

    name = "namespaces"

    def available(self) -> bool:
        if libc() is None or not hasattr(os, "fork"):
            return False
        pid = os.fork()  # probe in a throw-away child: a container may forbid unshare
        if pid == 0:
            code = 1
            try:
                self.apply(None)
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0

    def apply(self, ctx: Context | None) -> None:
        uid, gid = os.geteuid(), os.getegid()
        lib = libc()
        if lib is None or lib.unshare(ctypes.c_int(NAMESPACE_FLAGS)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"unshare: {os.strerror(err)}")
        _write_proc("/proc/self/setgroups", "deny")
        _write_proc("/proc/self/uid_map", f"{uid} {uid} 1\n")
        _write_proc("/proc/self/gid_map", f"{gid} {gid} 1\n")


class Landlock:
    """Read-only access beneath what the run needs, no writes anywhere, no TCP, scoped sockets and signals."""

    name = "landlock"
    per_thread = True

    def __init__(self) -> None:
        self.fd: int | None = None
        self.abi = 0

    def available(self) -> bool:
        self.abi = landlock.abi_version()
        return self.abi >= 1

    def read_only_paths(self) -> list[str]:
        import sysconfig

        paths = {os.path.dirname(os.__file__), os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
        for key in ("stdlib", "platstdlib", "purelib", "platlib"):
            try:
                paths.add(sysconfig.get_path(key))
            except KeyError:
                pass
        for entry in sys.path:  # site-packages and .pth additions, never the current directory
            if entry and os.path.isabs(entry) and ("site-packages" in entry or "dist-packages" in entry or entry.startswith(sys.base_prefix)):
                paths.add(entry)
        for mod in ("numpy", "torch"):
            m = sys.modules.get(mod)
            if m is not None and getattr(m, "__file__", None):
                paths.add(os.path.dirname(os.path.dirname(os.path.realpath(m.__file__))))
        paths.update({"/dev/null", "/dev/urandom"})
        return sorted({os.path.realpath(p) for p in paths if p} | {p for p in paths if p})

    def all_threads(self) -> bool:
        return self.abi >= landlock.ABI_TSYNC

    def thread_gap(self) -> str:
        return f"landlock (ABI {self.abi} has no all-threads flag)"

    def prepare(self) -> None:
        fd = landlock.create_ruleset(self.read_only_paths(), self.abi)
        if fd <= RESULT_FD + 2:  # keep it clear of the descriptors the stdio layer moves around
            import fcntl

            new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
            os.close(fd)
            fd = new
        self.fd = fd

    def apply(self, ctx: Context) -> None:
        if self.fd is None:
            raise OSError("the ruleset was not prepared")
        try:
            landlock.restrict_self(self.fd, self.abi)
        except PermissionError:  # not privileged in any namespace: Landlock then needs no_new_privs first
            _prctl(PR_SET_NO_NEW_PRIVS, 1)
            landlock.restrict_self(self.fd, self.abi)
        os.close(self.fd)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


class NoNewPrivileges:
    """execve can never gain privileges (setuid binaries, file capabilities); every capability is dropped."""

    name = "no-new-privileges"
    per_thread = True

    def all_threads(self) -> bool:
        return False  # capset(2) changes the calling thread only; there is no all-threads form

    def thread_gap(self) -> str:
        return "no-new-privileges (capabilities are dropped per thread)"

    def available(self) -> bool:
        try:
            return libc() is not None and _prctl(PR_GET_NO_NEW_PRIVS) >= 0
        except OSError:
            return False

    def apply(self, ctx: Context) -> None:
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        if _prctl(PR_GET_NO_NEW_PRIVS) != 1:
            raise OSError("the kernel did not keep the flag")
        header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
        data = (_CapData * 2)()
        if libc().capset(ctypes.byref(header), data) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"capset: {os.strerror(err)}")


class Seccomp:
    """A system-call filter, last: no exec, no processes, no sockets, no tracing, no file-tree changes."""

    name = "seccomp"
    per_thread = True

    def __init__(self) -> None:
        self.program: seccomp.Program | None = None

    def all_threads(self) -> bool:
        return self.program is not None and self.program.tsync

    def thread_gap(self) -> str:
        return "seccomp (this kernel cannot give the filter to every thread)"

    def available(self) -> bool:
        return seccomp.library() is not None and seccomp.kernel_supports_filters()

    def prepare(self) -> None:
        self.program = seccomp.compile_filter()

    def apply(self, ctx: Context) -> None:
        if self.program is None:
            raise OSError("the filter was not prepared")
        self.program.load()


LAYERS: list[Layer] = [
    NewSession(), DieWithParent(), Stdio(), ScrubbedEnvironment(), Namespaces(), Rlimits(), Landlock(),
    NoNewPrivileges(), Seccomp(),
]
ALL_LAYERS: tuple[str, ...] = tuple(layer.name for layer in LAYERS)

_available: list[bool] | None = None
_disabled: frozenset[str] = frozenset()


def disable(names: Iterable[str]) -> None:
    """Treat these layers as unavailable on this host (a degraded host, simulated); call before forking."""
    global _disabled, _available
    names = frozenset(names)
    unknown = names - set(ALL_LAYERS)
    if unknown:
        raise ValueError(f"unknown isolation layers {sorted(unknown)}: the layers are {', '.join(ALL_LAYERS)}")
    _disabled = names
    _available = None


def _availability() -> list[bool]:
    """Which layers apply here; probes and prepares each once (in the worker, before any fork)."""
    global _available
    if _available is None:
        out = []
        for layer in LAYERS:
            ok = False
            if layer.name not in _disabled:
                try:
                    ok = bool(layer.available())
                    if ok and hasattr(layer, "prepare"):
                        layer.prepare()
                except Exception:  # noqa: BLE001 - a probe or preparation that fails means "not here"
                    ok = False
            out.append(ok)
        _available = out
    return _available


def active_layers() -> list[str]:
    """Names of the layers that apply on this host, in the order they apply."""
    return [layer.name for layer, ok in zip(LAYERS, _availability()) if ok]


def layer_details() -> dict[str, str]:
    """A few words on how some active layers apply here (Landlock's ABI, the seccomp filter's size)."""
    out: dict[str, str] = {}
    for layer, ok in zip(LAYERS, _availability()):
        if not ok:
            continue
        if isinstance(layer, Landlock):
            out[layer.name] = f"ABI {layer.abi}: read-only stdlib and site-packages, no writes" + (
                ", no TCP" if layer.abi >= landlock.ABI_TCP else "") + (
                ", scoped sockets and signals" if layer.abi >= landlock.ABI_SCOPED else "") + (
                ", on every thread" if layer.all_threads() else "")
        elif isinstance(layer, Seccomp) and layer.program is not None:
            out[layer.name] = f"{layer.program.instructions} BPF instructions" + (
                ", on every thread" if layer.all_threads() else "")
        elif isinstance(layer, Namespaces):
            out[layer.name] = "user, network, IPC, mount"
    return out


def open_socket_families(active: Iterable[str], landlock_abi: int = 0, root: bool = False) -> list[str]:
    """The kinds of socket a run can still use to reach something outside itself with only `active`
    layers: none under seccomp (socket() and socketpair() are refused); without it, what the network
    namespace and a Landlock ruleset of `landlock_abi` leave (the ruleset handles TCP from ABI 4 and
    scopes abstract UNIX sockets from ABI 6, nothing more, whatever later kernels offer)."""
    have = set(active)
    if "seccomp" in have:
        return []
    abi = landlock_abi if "landlock" in have else 0
    out: list[str] = []
    if "namespaces" not in have:  # a new network namespace has only its own loopback, down
        if abi < landlock.ABI_TCP:
            out.append("TCP")
        out += ["UDP", "SCTP", "MPTCP"]  # Landlock's TCP rights cover TCP sockets only
        if abi < landlock.ABI_SCOPED:
            out.append("abstract UNIX")  # abstract names live in the network namespace
        out.append("netlink")
        if root and "no-new-privileges" not in have:
            out += ["raw", "packet"]  # CAP_NET_RAW, which the capability drop removes
    out.append("pathname UNIX")  # connect() to a socket file is not a file access Landlock handles
    return out


def socket_note(active: Iterable[str], landlock_abi: int = 0, root: bool = False) -> str | None:
    """The sentence on the sockets a run keeps on this host (for `tutor doctor`), None when none."""
    have = set(active)
    families = open_socket_families(have, landlock_abi, root)
    if not families:
        return None
    lacking = " and ".join(f"no {x}" for x, name in (("seccomp filter", "seccomp"), ("network namespace", "namespaces"))
                           if name not in have)
    if "namespaces" in have:
        covers = "the network namespace closes the others" + ("; Landlock does not cover socket files" if "landlock" in have else "")
    elif "landlock" not in have:
        covers = "there is no Landlock"
    elif landlock_abi >= landlock.ABI_SCOPED:
        covers = f"Landlock ABI {landlock_abi} only restricts TCP bind/connect and abstract UNIX sockets"
    elif landlock_abi >= landlock.ABI_TCP:
        covers = f"Landlock ABI {landlock_abi} only restricts TCP bind/connect"
    else:
        covers = f"Landlock ABI {landlock_abi} restricts no sockets"
    listed = ", ".join(families[:-1]) + (" and " if len(families) > 1 else "") + families[-1]
    return f"with {lacking}, a run here can still open {listed} sockets ({covers})"


def missing_layers(active: Iterable[str]) -> list[str]:
    """The layers of the full set that `active` lacks, in order."""
    have = set(active)
    return [name for name in ALL_LAYERS if name not in have]


def isolation_refusal(missing: Sequence[str]) -> str:
    """The one sentence for a host that lacks layers when isolation is required."""
    return (f"this machine lacks the sandbox isolation layer(s) {', '.join(missing)}, and isolation is required "
            "(--require-isolation), so no program is run here: `tutor doctor` lists the layers")


def prepared_fds() -> tuple[int, ...]:
    """Descriptors prepared in the worker that the children need until their layers are applied."""
    _availability()
    return tuple(layer.fd for layer in LAYERS if isinstance(layer, Landlock) and layer.fd is not None)


# The layers that do not depend on the job: a pre-forked child applies these while it waits for one
# (the worker's idle time), and the rest, in order, once the job has arrived.
JOB_INDEPENDENT = ("session", "die-with-parent", "stdio", "environment", "namespaces")


def job_independent_count() -> int:
    """How many layers, from the first, do not depend on the job (they are applied before it arrives)."""
    n = 0
    for layer in LAYERS:
        if layer.name not in JOB_INDEPENDENT:
            break
        n += 1
    return n


def thread_count() -> int | None:
    """How many threads this process has now (/proc/self/task), or None where /proc cannot say."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def check_threads(pending: Sequence[ThreadScoped], index: int = 0) -> None:
    """Raise ThreadsNotIsolated unless this process is single-threaded or every layer in `pending`
    (about to apply, from this thread) reaches all its threads on this kernel."""
    count = thread_count()
    if count == 1:
        return
    gaps = [layer for layer in pending if not layer.all_threads()]
    if not gaps:
        return
    if count is None:
        what = "/proc/self/task could not be read to count the threads of its process"
    else:
        what = f"its process had {count} threads when its layers were to go on"
    said = ", ".join(layer.thread_gap() for layer in gaps)
    raise ThreadsNotIsolated(index, gaps[0].name, f"{what}, and {said} would bind only one of them")


def apply_all(ctx: Context, start: int = 0, stop: int | None = None) -> None:
    """Apply every available layer in order (those from index `start` up to `stop` when given);
    raise LayerFailed on the first that fails, ThreadsNotIsolated when a thread would escape one."""
    avail = _availability()
    end = len(LAYERS) if stop is None else min(stop, len(LAYERS))
    checked = False
    for index in range(start, end):
        layer = LAYERS[index]
        if not avail[index]:
            continue
        if not checked and getattr(layer, "per_thread", False):
            checked = True  # nothing between here and the last layer starts a thread
            scoped = [x for i, x in enumerate(LAYERS[index:end], index) if avail[i] and getattr(x, "per_thread", False)]
            check_threads(scoped, index)  # type: ignore[arg-type] - per_thread layers are ThreadScoped
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
