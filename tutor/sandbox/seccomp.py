"""A seccomp filter compiled once in the worker with libseccomp (ctypes, no Python binding needed) and
loaded in each child with one prctl.

libseccomp (Debian: libseccomp2) writes the BPF program, including its architecture checks (a
system call made through another ABI, such as i386's int 0x80 or x32, kills the process). The
program is exported to memory once; the child only passes it to the kernel, which costs microseconds.

Denied with EPERM (so Python raises PermissionError, a sentence the learner can read): running
programs (execve, execveat), new processes (fork, vfork, clone without CLONE_THREAD), sockets,
tracing other processes (ptrace, process_vm_*, pidfd_getfd, kcmp), mounts and namespaces (mount,
umount2, pivot_root, chroot, the new mount API, unshare, setns), bpf, perf_event_open,
userfaultfd, keyrings (keyctl, add_key, request_key), io_uring, kernel modules and kexec, changes to
the file tree (unlink, rename, mkdir, rmdir, link, symlink, mknod, chmod, chown, truncate,
*xattr, utime*: Landlock does not cover metadata), and the terminal injection ioctls TIOCSTI and TIOCLINUX. clone3 gets ENOSYS: its flags
sit in memory a filter cannot read, and glibc then falls back to clone, whose flags it can.

The filter is loaded with seccomp(2) and SECCOMP_FILTER_FLAG_TSYNC, so it binds every thread of the
child, not only the one that loads it (a thread a native library started gets it too). Where
the kernel lacks the flag (before 3.17, or a container that filters seccomp(2) itself) it falls back
to prctl, which binds the calling thread only; `Program.tsync` says which, and the child is then
refused unless it is single-threaded (layers.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import sys

ACT_ALLOW = 0x7FFF0000
CMP_EQ, CMP_MASKED_EQ = 4, 7
CLONE_THREAD = 0x00010000
TIOCSTI, TIOCLINUX = 0x5412, 0x541C
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC = 1, 1

DENIED = (
    "execve execveat fork vfork "
    "socket socketpair "
    "ptrace process_vm_readv process_vm_writev pidfd_getfd kcmp "
    "mount umount umount2 pivot_root chroot fsopen fsconfig fsmount fspick move_mount open_tree mount_setattr "
    "unshare setns bpf perf_event_open userfaultfd keyctl add_key request_key "
    "io_uring_setup io_uring_enter io_uring_register "
    "init_module finit_module delete_module kexec_load kexec_file_load reboot swapon swapoff "
    "unlink unlinkat rename renameat renameat2 mkdir mkdirat rmdir link linkat symlink symlinkat mknod mknodat "
    "chmod fchmod fchmodat fchmodat2 chown fchown lchown fchownat truncate utime utimes utimensat futimesat "
    "setxattr lsetxattr fsetxattr removexattr lremovexattr fremovexattr "
    "name_to_handle_at open_by_handle_at quotactl acct settimeofday clock_settime adjtimex"
).split()


def ACT_ERRNO(e: int) -> int:  # noqa: N802 - libseccomp's name
    return 0x00050000 | (e & 0xFFFF)


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_lib: ctypes.CDLL | None = None


def library() -> ctypes.CDLL | None:
    """libseccomp, or None where it is not installed (then the layer is reported missing)."""
    global _lib
    if _lib is None and sys.platform.startswith("linux"):
        for name in (ctypes.util.find_library("seccomp"), "libseccomp.so.2"):
            if not name:
                continue
            try:
                lib = ctypes.CDLL(name, use_errno=True)
            except OSError:
                continue
            lib.seccomp_init.restype = ctypes.c_void_p
            lib.seccomp_init.argtypes = [ctypes.c_uint32]
            lib.seccomp_release.argtypes = [ctypes.c_void_p]
            lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
            lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
            lib.seccomp_rule_add_array.restype = ctypes.c_int
            lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
            lib.seccomp_export_bpf.restype = ctypes.c_int
            lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
            _lib = lib
            break
    return _lib


class Program:
    """A compiled filter kept in the worker's memory; `load()` installs it in the calling process
    (every thread of it when `tsync`)."""

    def __init__(self, bpf: bytes, seccomp_nr: int = -1) -> None:
        if not bpf or len(bpf) % 8:
            raise OSError("libseccomp produced no filter")
        self._buf = ctypes.create_string_buffer(bpf, len(bpf))
        self._prog = _SockFprog(len(bpf) // 8, ctypes.addressof(self._buf))
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._libc.syscall.restype = ctypes.c_long
        self.instructions = len(bpf) // 8
        self._nr = seccomp_nr
        self.tsync = seccomp_nr >= 0 and self._probe_tsync()

    def _seccomp(self, flags: int, prog: int | None) -> int:
        return int(self._libc.syscall(ctypes.c_long(self._nr), ctypes.c_ulong(SECCOMP_SET_MODE_FILTER),
                                      ctypes.c_ulong(flags), ctypes.c_void_p(prog)))

    def _probe_tsync(self) -> bool:
        """Does seccomp(2) take TSYNC here? A NULL program fails with EFAULT once the flag is accepted
        (before the kernel looks at privileges or installs anything); EINVAL, ENOSYS or EPERM mean no."""
        return self._seccomp(SECCOMP_FILTER_FLAG_TSYNC, None) == -1 and ctypes.get_errno() == errno.EFAULT

    def load(self) -> None:
        addr = ctypes.addressof(self._prog)
        if self.tsync:
            res = self._seccomp(SECCOMP_FILTER_FLAG_TSYNC, addr)
            if res > 0:  # the id of a thread that could not take the filter (it has another one)
                raise OSError(f"thread {res} of the run could not be given the filter")
        else:
            zero = ctypes.c_ulong(0)
            res = self._libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER),
                                   ctypes.c_void_p(addr), zero, zero)
        if res != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))


def compile_filter() -> Program:
    """Build the filter with libseccomp and export its BPF (raises OSError where that cannot be done)."""
    lib = library()
    if lib is None:
        raise OSError("libseccomp is not installed")
    ctx = lib.seccomp_init(ACT_ALLOW)
    if not ctx:
        raise OSError("seccomp_init failed")
    try:
        def add(action: int, name: str, *cmps: tuple[int, int, int, int]) -> None:
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr < 0:
                return  # not a system call on this architecture (fork on arm64, for example)
            arr = (_ArgCmp * max(1, len(cmps)))(*[_ArgCmp(*c) for c in cmps])
            rc = lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), arr)
            if rc < 0:
                raise OSError(-rc, f"seccomp rule for {name}: {os.strerror(-rc)}")

        eperm = ACT_ERRNO(errno.EPERM)
        for name in DENIED:
            add(eperm, name)
        add(eperm, "clone", (0, CMP_MASKED_EQ, CLONE_THREAD, 0))  # a process, not a thread
        add(ACT_ERRNO(errno.ENOSYS), "clone3")
        for request in (TIOCSTI, TIOCLINUX):
            add(eperm, "ioctl", (1, CMP_MASKED_EQ, 0xFFFFFFFF, request))
        fd = os.memfd_create("tutor-seccomp", os.MFD_CLOEXEC)
        try:
            rc = lib.seccomp_export_bpf(ctx, fd)
            if rc < 0:
                raise OSError(-rc, f"seccomp_export_bpf: {os.strerror(-rc)}")
            size = os.lseek(fd, 0, os.SEEK_END)
            bpf = os.pread(fd, size, 0)
        finally:
            os.close(fd)
        seccomp_nr = lib.seccomp_syscall_resolve_name(b"seccomp")  # this architecture's number
    finally:
        lib.seccomp_release(ctx)
    return Program(bpf, seccomp_nr)


def kernel_supports_filters() -> bool:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            return any(line.startswith("Seccomp:") for line in f)
    except OSError:
        return False
