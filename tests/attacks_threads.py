"""Attacks through threads: every thread of a run is inside the layers.

Landlock, the capability drop and seccomp bind the thread that applies them. A child that has a
second thread before they go on is refused, with one sentence, and its program never runs; a thread
the program starts afterwards inherits every layer, so it can do nothing the main thread cannot.

The programs reach the OS the way an attacker would once Python-level guards fail and the module
views refuse `np.ctypeslib.ctypes`: `object.__subclasses__()` holds ctypes.CDLL and threading.Thread.
Network targets are only listeners this file opens on 127.0.0.1. As root, the file re-runs itself as
`nobody` (setpriv), so the layers are proven without privileges too.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sandbox_checks import settled_idle

from tutor.sandbox import Evaluator, client, layers
from tutor.sandbox import seccomp as sc

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the OS layers are Linux ones")

REPO = Path(__file__).resolve().parent.parent
TAG = uuid.uuid4().hex[:12]

# ctypes and threading, reached without the module views (which refuse `np.ctypeslib.ctypes`).
PRE = (
    "subs = ().__class__.__base__.__subclasses__()\n"
    "CDLL = [k for k in subs if k.__name__ == 'CDLL' and k.__module__ == 'ctypes'][0]\n"
    "Thread = [k for k in subs if k.__name__ == 'Thread' and k.__module__ == 'threading'][0]\n"
    "ct = CDLL.__init__.__globals__\n"
    "c = CDLL(None, use_errno=True)\n"
)


def _in_a_forked_child(body) -> tuple[int, str]:
    """Run `body()` (returning a short string) in a child forked from this test: one thread to start
    with, whatever this process runs. (exit status, what it returned or raised)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            try:
                text, code = body(), 0
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                text = f"{type(exc).__name__}: {exc}"
            os.write(w, text.encode("utf-8", "replace")[:60000])
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode("utf-8", "replace")


class _Parked:
    """A real extra thread, parked until `release()`."""

    def __init__(self, work=None) -> None:
        self.go = threading.Event()
        self.result: object = None
        self.work = work
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.go.wait()
        if self.work is not None:
            self.result = self.work()

    def release(self) -> object:
        self.go.set()
        self.thread.join(10)
        return self.result


# ---- the check, on a process with a real second thread --------------------------------------------


class _AllThreads:
    """A per-thread layer with an all-threads form (seccomp with TSYNC, Landlock from ABI 8)."""

    name = "all-threads"
    per_thread = True

    def all_threads(self) -> bool:
        return True

    def thread_gap(self) -> str:  # pragma: no cover - never a gap
        return "none"


def test_a_second_thread_before_the_layers_refuses_the_run() -> None:
    def body() -> str:
        assert layers.thread_count() == 1
        layers.check_threads([layers.NoNewPrivileges(), layers.Landlock()])  # alone: nothing to refuse
        parked = _Parked()
        assert layers.thread_count() == 2
        layers.check_threads([_AllThreads()])  # every layer reaches every thread: no refusal either
        try:
            layers.check_threads([_AllThreads(), layers.NoNewPrivileges()], index=7)
        except layers.ThreadsNotIsolated as exc:
            parked.release()
            assert exc.index == 7 and exc.name == "no-new-privileges"
            assert isinstance(exc, layers.LayerFailed)
            return str(exc)
        return "not refused"

    code, said = _in_a_forked_child(body)
    assert code == 0, said
    assert said.startswith("the sandbox could not isolate every thread of the run: ")
    assert said.endswith("; the run was refused") and "2 threads" in said and "no-new-privileges" in said
    assert "\n" not in said


def test_threads_that_cannot_be_counted_refuse_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layers, "thread_count", lambda: None)  # no /proc
    with pytest.raises(layers.ThreadsNotIsolated, match="/proc/self/task could not be read"):
        layers.check_threads([layers.NoNewPrivileges()])
    layers.check_threads([_AllThreads()])  # with all-threads forms only, counting is not needed


def test_landlock_takes_its_all_threads_flag_from_abi_8() -> None:
    ll = layers.Landlock()
    ll.abi = 7
    assert not ll.all_threads() and "ABI 7" in ll.thread_gap()
    ll.abi = 8
    assert ll.all_threads()


def test_seccomp_reaches_a_thread_that_was_already_running() -> None:
    """seccomp(2) with TSYNC: a thread parked before the filter went on cannot fork or open a socket."""
    if sc.library() is None or not sc.kernel_supports_filters():
        pytest.skip("no seccomp here")

    def body() -> str:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        prog = sc.compile_filter()
        if not prog.tsync:
            return "no tsync"

        def attack() -> tuple[int, int]:
            s = libc.socket(socket.AF_INET, socket.SOCK_STREAM, 0)
            pid = libc.fork()
            if pid == 0:
                libc._exit(0)
            return s, pid

        parked = _Parked(attack)
        libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
        prog.load()
        return repr(parked.release())

    code, said = _in_a_forked_child(body)
    if said == "no tsync":
        pytest.skip("this kernel cannot give a seccomp filter to every thread")
    assert code == 0 and said == "(-1, -1)", said


# ---- end to end: a pre-forked child whose warm-up started a thread ---------------------------------

# Wraps the warm-up a pre-forked child runs while it waits: in the child (not the worker itself) it
# also starts a thread, as a library that ignored OMP_NUM_THREADS would.
_THREAD_IN_WARM_UP = (
    "import os, threading, time\n"
    "from tutor.sandbox import worker as _w\n"
    "_worker_pid, _warm = os.getpid(), _w.Worker.warm_child\n"
    "def _warm_and_start_a_thread(self):\n"
    "    _warm(self)\n"
    "    if os.getpid() != _worker_pid:\n"
    "        threading.Thread(target=time.sleep, args=(600,), daemon=True).start()\n"
    "_w.Worker.warm_child = _warm_and_start_a_thread\n"
)


@pytest.fixture
def threaded_warm_up(monkeypatch: pytest.MonkeyPatch) -> None:
    real = client.bootstrap

    def bootstrap(*args: object, **kw: object) -> str:
        return f"import sys; sys.path.insert(0, {client._PACKAGE_PARENT!r})\n{_THREAD_IN_WARM_UP}{real(*args, **kw)}"

    monkeypatch.setattr(client, "bootstrap", bootstrap)


def test_a_pre_forked_child_with_a_thread_refuses_the_job(threaded_warm_up: None, tmp_path: Path) -> None:
    target = tmp_path / "ran.txt"
    source = f"print('ran')\nnp.savetxt({str(target)!r}, np.ones(2))\n"
    with Evaluator(preload=("numpy",)) as ev:
        ev.start(wait=True)
        if "no-new-privileges" not in ev.layers():
            pytest.skip("without the capability drop every per-thread layer here may have an all-threads form")
        assert settled_idle(ev), "the worker pre-forked no child"
        (out,) = ev.run([{"id": "t", "source": source, "names": ["np"], "timeout": 5.0}])
        assert out.status == "ok" and out.stdout == "", out
        error = out.header["error"]
        assert out.header["status"] == "error" and error["type"] == "SandboxError"
        assert error["message"].startswith("the sandbox could not isolate every thread of the run: its process had 2 threads")
        assert error["message"].endswith("; the run was refused")
        assert not target.exists()
    # The same worker without the pool: children fresh from fork have one thread, and run.
    with Evaluator(preload=("numpy",), prefork=False) as ev:
        (out,) = ev.run([{"id": "t", "source": "print('ran')", "names": ["np"], "timeout": 5.0}])
        assert out.status == "ok" and out.stdout == "ran\n", out


# ---- a thread the program starts after the layers --------------------------------------------------


@dataclass
class Targets:
    """What a thread must not reach: a folder anyone may write, listeners on 127.0.0.1 and a socket file."""

    folder: Path
    tcp: socket.socket
    unix: socket.socket
    unix_path: str

    def got_anything(self) -> list[str]:
        got = []
        for name, s in (("tcp", self.tcp), ("unix", self.unix)):
            s.settimeout(0.0)
            try:
                conn, _ = s.accept()
                conn.close()
                got.append(name)
            except (BlockingIOError, socket.timeout, TimeoutError):
                pass
        return got


@pytest.fixture(scope="module")
def targets() -> Iterator[Targets]:
    folder = Path("/tmp") / f"tutor-threads-{TAG}"
    folder.mkdir()
    os.chmod(folder, 0o777)  # only the sandbox stands between a run and a new file here
    (folder / "keep.txt").write_text("sentinel\n")
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    unix_path = str(folder / "u.sock")
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(unix_path)
    unix.listen(8)
    os.chmod(unix_path, 0o777)
    yield Targets(folder, tcp, unix, unix_path)
    tcp.close()
    unix.close()
    subprocess.run(["rm", "-rf", str(folder)], check=False)


def _attack(t: Targets, seccomp: bool) -> str:
    """A program whose main thread, then a thread it starts, try the same things; prints both."""
    port = t.tcp.getsockname()[1]
    path = str(t.folder / "new-THREAD.txt").encode()
    tries = (
        "def tries(who):\n"
        "    out = {}\n"
        f"    out['write'] = c.open({path!r}.replace(b'THREAD', who.encode()), 65, 0o644)\n"
        "    s = c.socket(2, 1, 0)\n"
        f"    addr = (ct['c_char'] * 16)(*bytes([2, 0, {port >> 8}, {port & 255}, 127, 0, 0, 1] + [0] * 8))\n"
        "    out['tcp'] = c.connect(s, addr, 16) if s >= 0 else 'nosocket'\n"
    )
    if seccomp:  # without seccomp these stay open (tutor doctor says so): not tried there
        unix = t.unix_path.encode()
        tries += (
            "    u = c.socket(1, 1, 0)\n"
            f"    uaddr = (ct['c_char'] * 110)(*(bytes([1, 0]) + {unix!r} + bytes({108 - len(unix)})))\n"
            "    out['unix'] = c.connect(u, uaddr, 110) if u >= 0 else 'nosocket'\n"
            "    pid = c.fork()\n"
            "    if pid == 0:\n"
            "        c._exit(0)\n"
            "    out['fork'] = pid\n"
        )
    tries += "    return out\n"
    return PRE + tries + (
        "box = {}\n"
        "t = Thread(target=lambda: box.update(thread=tries('thread')))\n"
        "t.start()\n"
        "t.join()\n"
        "for who, got in (('main', tries('main')), ('thread', box['thread'])):\n"
        "    print(who, ' '.join(f'{k}={v}' for k, v in sorted(got.items())))\n"
    )


@pytest.mark.parametrize("missing", [(), ("seccomp",), ("seccomp", "namespaces")], ids=["all layers", "no seccomp", "no seccomp or namespaces"])
def test_a_thread_the_program_starts_can_do_nothing_the_program_cannot(targets: Targets, missing: tuple[str, ...]) -> None:
    with Evaluator(preload=("numpy",), disable_layers=missing) as ev:
        ev.start(wait=True)
        lacking = set(layers.missing_layers(ev.layers())) - set(missing)
        if lacking:
            pytest.skip(f"this host lacks {', '.join(sorted(lacking))}: the cases are simulated from a full host")
        before = sorted(os.listdir(targets.folder))
        (out,) = ev.run([{"id": "t", "source": _attack(targets, seccomp=not missing), "names": ["np"], "timeout": 5.0}])
        assert out.status == "ok" and out.header["status"] == "ok", (out.header, out.stdout)
        lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
        assert lines["main"] == lines["thread"], out.stdout  # the thread got exactly what the main thread got
        got = dict(pair.split("=", 1) for pair in lines["thread"].split())
        assert got["write"] == "-1"  # Landlock: no new file, under every case here
        assert got["tcp"] != "0"  # no connection: seccomp (no socket), the network namespace, or Landlock
        if not missing:
            assert got["unix"] == "nosocket" and got["fork"] == "-1"
        assert sorted(os.listdir(targets.folder)) == before
        assert targets.got_anything() == []
        (nxt,) = ev.run([{"id": "n", "source": "print(np.ones(2).sum())", "names": ["np"], "timeout": 5.0}])
        assert nxt.stdout == "2.0\n"


# ---- the same file as an unprivileged user ---------------------------------------------------------


# tests/test_attacks.py collects this module's tests and fixtures (and re-runs them as `nobody`).
__all__ = [n for n, v in dict(globals()).items() if n.startswith("test_") or hasattr(v, "_fixture_function_marker")]
