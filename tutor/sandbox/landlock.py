"""Landlock through raw system calls (ctypes): a ruleset built once in the worker, enforced in each child.

The ruleset handles every filesystem right the kernel's ABI knows, grants read-only access (read
files, list directories) beneath the few paths a run needs, and nothing else: no writes, removals,
renames, links, device ioctls or truncation anywhere, no reads of homes, /etc, /proc or /tmp.
From ABI 4 it handles TCP bind and connect with no rule (so both are denied); from ABI 6 it scopes
abstract Unix sockets and signals to the child's own domain (it cannot signal the worker, the tutor
or anything else it did not start).

Threads: `landlock_restrict_self` restricts the calling thread (and the threads and processes it
starts afterwards), not the threads that already run. ABI 8 (Linux 7.0) adds
LANDLOCK_RESTRICT_SELF_TSYNC, which restricts every thread of the process at once; `restrict_self`
passes it from that ABI on. Below it the caller must be single-threaded (layers.py checks).
Connecting to a pathname Unix socket is not a file access Landlock handles (up to ABI 8 at least):
without seccomp, such sockets stay reachable (`tutor doctor` says so).
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Iterable

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # the same on every architecture
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1

FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_ABI1 = (1 << 13) - 1  # execute .. make_sym
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1, 2
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1, 2
RESTRICT_SELF_TSYNC = 1 << 3  # landlock_restrict_self flag: every thread of the process (ABI 8)
ABI_TCP, ABI_SCOPED, ABI_TSYNC = 4, 6, 8  # the first ABI with TCP rules, with scopes, with TSYNC

READ_DIR_RIGHTS = FS_READ_FILE | FS_READ_DIR
READ_FILE_RIGHTS = FS_READ_FILE


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc: ctypes.CDLL | None = None


def _syscall(*args: int | ctypes.c_void_p) -> int:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    _libc.syscall.restype = ctypes.c_long
    res = _libc.syscall(*[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    if res < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(res)


def abi_version() -> int:
    """The kernel's Landlock ABI (0 when Landlock is missing or disabled)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        return _syscall(SYS_CREATE_RULESET, 0, 0, CREATE_RULESET_VERSION)
    except OSError:
        return 0


def handled(abi: int) -> tuple[int, int, int]:
    """(fs, net, scoped) rights this ABI can restrict."""
    fs = FS_ABI1
    if abi >= 2:
        fs |= FS_REFER
    if abi >= 3:
        fs |= FS_TRUNCATE
    if abi >= 5:
        fs |= FS_IOCTL_DEV
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= ABI_TCP else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= ABI_SCOPED else 0
    return fs, net, scoped


def create_ruleset(read_only: Iterable[str], abi: int | None = None) -> int:
    """A ruleset fd (close-on-exec) allowing only reads beneath `read_only` (missing paths are skipped)."""
    abi = abi_version() if abi is None else abi
    if abi < 1:
        raise OSError("Landlock is not available in this kernel")
    fs, net, scoped = handled(abi)
    attr = _RulesetAttr(fs, net, scoped)
    fd = _syscall(SYS_CREATE_RULESET, ctypes.cast(ctypes.pointer(attr), ctypes.c_void_p), ctypes.sizeof(attr), 0)
    try:
        for path in read_only:
            try:
                pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                rights = READ_DIR_RIGHTS if os.path.isdir(path) else READ_FILE_RIGHTS
                rule = _PathBeneath(rights & fs, pfd)
                _syscall(SYS_ADD_RULE, fd, RULE_PATH_BENEATH, ctypes.cast(ctypes.pointer(rule), ctypes.c_void_p), 0)
            finally:
                os.close(pfd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def restrict_self(ruleset_fd: int, abi: int = 0) -> None:
    """Enforce the ruleset: on every thread from ABI 8, else on the calling thread only (so the caller
    must be single-threaded); needs no-new-privs or CAP_SYS_ADMIN."""
    _syscall(SYS_RESTRICT_SELF, ruleset_fd, RESTRICT_SELF_TSYNC if abi >= ABI_TSYNC else 0)
