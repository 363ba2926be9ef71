"""Degraded hosts: each missing isolation layer is simulated, reported, refused on demand, and the rest still hold."""

from __future__ import annotations

import functools
import os
import socket
import sys
import threading
from pathlib import Path

import pytest

from tutor.sandbox import Evaluator, EvaluatorError, layers
from tutor.sandbox import landlock as ll
from tutor.sandbox import seccomp as sc

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the OS layers are Linux ones")

# libc through ctypes, reached the way an attacker would once the module views refuse `np.ctypeslib.ctypes`.
LIBC = (
    "CDLL = [k for k in ().__class__.__base__.__subclasses__() if k.__name__ == 'CDLL' and k.__module__ == 'ctypes'][0]\n"
    "ct = CDLL.__init__.__globals__\n"
    "c = CDLL(None, use_errno=True)\n"
)


def job(source: str, **kw: object) -> dict:
    out = {"id": "t", "source": source, "names": ["np"], "timeout": 5.0}
    out.update(kw)
    return out


def run1(ev: Evaluator, source: str, **kw: object):
    (out,) = ev.run([job(source, **kw)])
    return out


@pytest.fixture(scope="module")
def full_layers() -> list[str]:
    with Evaluator(preload=("numpy",)) as ev:
        names = ev.layers()
    if names != list(layers.ALL_LAYERS):
        pytest.skip(f"this host lacks {layers.missing_layers(names)}: the degraded modes are simulated from a full host")
    return names


class _Listener:
    """A loopback TCP listener that records whether anything connected."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]

    def got_anything(self) -> bool:
        try:
            conn, _ = self.sock.accept()
        except (TimeoutError, socket.timeout, OSError):
            return False
        conn.close()
        return True

    def close(self) -> None:
        self.sock.close()


# What each degraded mode must still stop, through the layers that remain.
TCP = LIBC + (
    "s = c.socket(2, 1, 0)\n"
    "addr = (ct['c_char'] * 16)(*bytes([2, 0, PORT >> 8, PORT & 255, 127, 0, 0, 1] + [0] * 8))\n"
    "print('socket', s, 'connect', c.connect(s, addr, 16) if s >= 0 else -1)\n"
)
WRITE = "np.savetxt(PATH, np.ones(3))\n"
FORK = LIBC + "pid = c.fork()\nif pid == 0:\n    c._exit(0)\nprint('fork', pid)\n"


@pytest.mark.parametrize("missing", ["namespaces", "landlock", "seccomp", "no-new-privileges", "rlimits", "die-with-parent"])
def test_a_missing_layer_is_reported_and_the_rest_hold(full_layers: list[str], missing: str, tmp_path: Path) -> None:
    listener = _Listener()
    target = tmp_path / "written.txt"
    try:
        with Evaluator(preload=("numpy",), disable_layers=[missing]) as ev:
            info = ev.info()
            assert info["layers"] == [n for n in full_layers if n != missing]
            assert info["missing_layers"] == [missing]
            ok = run1(ev, "print(np.arange(4).sum())")
            assert ok.status == "ok" and ok.stdout == "6\n"
            tcp = run1(ev, TCP.replace("PORT", str(listener.port)))
            write = run1(ev, WRITE.replace("PATH", repr(str(target))))
            fork = run1(ev, FORK)
    finally:
        got = listener.got_anything()
        listener.close()
    assert not got, "the loopback listener was reached"
    assert tcp.status == "ok" and "connect 0" not in tcp.stdout
    assert not target.exists() or target.stat().st_size == 0
    if missing != "seccomp":
        assert "fork -1" in fork.stdout
    else:  # no seccomp: the fork happens, but its child dies with the process group at once
        assert fork.status == "ok"


def test_a_host_without_namespaces_landlock_or_seccomp_still_runs(full_layers: list[str], tmp_path: Path) -> None:
    """Like macOS, an old kernel or a container that forbids unshare: the rest apply and are named."""
    gone = ["namespaces", "landlock", "seccomp"]
    with Evaluator(preload=("numpy",), disable_layers=gone) as ev:
        assert ev.layers() == ["session", "die-with-parent", "stdio", "environment", "rlimits", "no-new-privileges"]
        out = run1(ev, "x = 0\nwhile True:\n    x += 1\n", timeout=0.5)
        assert out.status == "timeout"
        assert run1(ev, "print(1)").stdout == "1\n"
        out = run1(ev, WRITE.replace("PATH", repr(str(tmp_path / "f.txt"))))
        assert out.header["status"] == "error"  # RLIMIT_FSIZE still stops the content
    assert not (tmp_path / "f.txt").exists() or (tmp_path / "f.txt").stat().st_size == 0


def test_require_isolation_refuses_a_degraded_host_with_one_sentence(full_layers: list[str]) -> None:
    with Evaluator(preload=("numpy",), disable_layers=["landlock"], require_isolation=True) as ev:
        with pytest.raises(EvaluatorError) as err:
            ev.start(wait=True)
        msg = str(err.value)
        assert "landlock" in msg and "--require-isolation" in msg and "\n" not in msg
        out = run1(ev, "print('ran')")  # the worker itself refuses too, even if the caller did not check
        assert out.stdout == "" and out.header["status"] == "error"
        assert "landlock" in out.header["error"]["message"]


def test_require_isolation_runs_on_a_full_host(full_layers: list[str]) -> None:
    with Evaluator(preload=("numpy",), require_isolation=True) as ev:
        ev.start(wait=True)
        assert run1(ev, "print('ran')").stdout == "ran\n"


def test_doctor_and_grade_reports_name_the_missing_layer(full_layers: list[str], monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import tutor.sandbox
    from tutor import cli

    monkeypatch.setattr(tutor.sandbox, "Evaluator", functools.partial(Evaluator, disable_layers=["seccomp"]))
    assert cli.main(["doctor"]) == cli.EXIT_OK
    text = capsys.readouterr().out
    assert "active   landlock" in text and "MISSING  seccomp" in text
    assert cli.main(["doctor", "--require-isolation"]) == cli.EXIT_FAILED
    capsys.readouterr()
    answers = tmp_path / "a.toml"
    answers.write_text('loss = "np.mean((y - (w * X + b)) ** 2)"\n')
    code = cli.main(["grade", "linreg-numpy", "--answers", str(answers), "--json"])
    assert code in (cli.EXIT_OK, cli.EXIT_FAILED)
    import json

    report = json.loads(capsys.readouterr().out.splitlines()[0])
    assert "seccomp" not in report["sandbox"]["layers"] and "landlock" in report["sandbox"]["layers"]
    assert cli.main(["grade", "linreg-numpy", "--answers", str(answers), "--require-isolation"]) == cli.EXIT_USAGE
    assert "seccomp" in capsys.readouterr().err


NO_SECCOMP_OR_NETNS = ["seccomp", "namespaces"]


def _doctor_sockets(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], gone: list[str]) -> list[str] | None:
    """The socket kinds `tutor doctor` says a run keeps on a host without `gone`, None when it says nothing."""
    import tutor.sandbox
    from tutor import cli

    monkeypatch.setattr(tutor.sandbox, "Evaluator", functools.partial(Evaluator, disable_layers=gone))
    assert cli.main(["doctor"]) == cli.EXIT_OK
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Sockets: ")]
    if not lines:
        return None
    (line,) = lines
    listed = line.split(" can still open ", 1)[1].split(" sockets (", 1)[0]
    return [kind for part in listed.split(", ") for kind in part.split(" and ")]


def test_doctor_says_which_sockets_stay_open_without_seccomp_and_a_network_namespace(
        full_layers: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    abi = ll.abi_version()
    said = _doctor_sockets(monkeypatch, capsys, NO_SECCOMP_OR_NETNS)
    active = [n for n in full_layers if n not in NO_SECCOMP_OR_NETNS]
    assert said == layers.open_socket_families(active, abi, os.geteuid() == 0)
    assert "UDP" in said and "pathname UNIX" in said
    assert ("TCP" in said) == (abi < 4) and ("abstract UNIX" in said) == (abi < 6)
    assert "raw" not in said  # the capability drop holds
    assert _doctor_sockets(monkeypatch, capsys, ["seccomp"]) == ["pathname UNIX"]  # the namespace closes the rest
    assert _doctor_sockets(monkeypatch, capsys, []) is None  # seccomp refuses socket(): nothing to say


def test_what_doctor_says_stays_open_is_what_a_run_reaches(full_layers: list[str], tmp_path: Path) -> None:
    """Not a fixed sentence: on the simulated host, a run's UDP datagram and pathname UNIX connection reach
    listeners this test opens (on 127.0.0.1 and in tmp_path) exactly when the doctor lists them, TCP when it lists TCP."""
    said = layers.open_socket_families([n for n in full_layers if n not in NO_SECCOMP_OR_NETNS], ll.abi_version(),
                                       os.geteuid() == 0)
    tcp = _Listener()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.2)
    os.chmod(tmp_path, 0o777)
    path = str(tmp_path / "u.sock")
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(path)
    unix.listen(4)
    unix.settimeout(0.2)
    os.chmod(path, 0o777)
    sun = path.encode()
    source = TCP.replace("PORT", str(tcp.port)) + (
        f"u = c.socket(2, 2, 0)\nudp = (ct['c_char'] * 16)(*bytes([2, 0, {udp.getsockname()[1] >> 8}, "
        f"{udp.getsockname()[1] & 255}, 127, 0, 0, 1] + [0] * 8))\n"
        "print('udp', c.sendto(u, b'hello', 5, 0, udp, 16))\n"
        f"x = c.socket(1, 1, 0)\nsun = (ct['c_char'] * 110)(*(bytes([1, 0]) + {sun!r} + bytes({108 - len(sun)})))\n"
        "print('unix', c.connect(x, sun, 110))\n"
    )
    try:
        with Evaluator(preload=("numpy",), disable_layers=NO_SECCOMP_OR_NETNS) as ev:
            out = run1(ev, source)
        got_udp = udp.recvfrom(64)[0] == b"hello"
    except (TimeoutError, socket.timeout):
        got_udp = False
    finally:
        got_tcp = tcp.got_anything()
        tcp.close()
        udp.close()
    try:
        unix.accept()[0].close()
        got_unix = True
    except (TimeoutError, socket.timeout):
        got_unix = False
    unix.close()
    assert out.status == "ok", out
    assert got_udp == ("UDP" in said) and got_unix == ("pathname UNIX" in said), (said, out.stdout)
    assert got_tcp == ("TCP" in said), (said, out.stdout)


def test_open_sockets_follow_the_layers_and_the_landlock_abi() -> None:
    full = list(layers.ALL_LAYERS)
    assert layers.open_socket_families(full, 7, root=True) == []
    bare = ["session", "rlimits"]
    assert layers.open_socket_families(bare, 0, root=False) == ["TCP", "UDP", "SCTP", "MPTCP", "abstract UNIX", "netlink", "pathname UNIX"]
    assert "raw" in layers.open_socket_families(bare, 0, root=True)  # root keeps CAP_NET_RAW without the drop
    assert "raw" not in layers.open_socket_families(bare + ["no-new-privileges"], 0, root=True)
    with_ll = bare + ["landlock"]
    assert layers.open_socket_families(with_ll, 3) == ["TCP", "UDP", "SCTP", "MPTCP", "abstract UNIX", "netlink", "pathname UNIX"]
    assert layers.open_socket_families(with_ll, 4) == ["UDP", "SCTP", "MPTCP", "abstract UNIX", "netlink", "pathname UNIX"]
    assert layers.open_socket_families(with_ll, 6) == ["UDP", "SCTP", "MPTCP", "netlink", "pathname UNIX"]
    assert layers.open_socket_families(bare, 6)[0] == "TCP"  # the kernel's ABI counts for nothing without the layer
    assert layers.open_socket_families(with_ll + ["namespaces"], 6) == ["pathname UNIX"]
    note = layers.socket_note(with_ll, 6)
    assert note is not None and note.startswith("with no seccomp filter and no network namespace, a run here can still open UDP")
    assert "Landlock ABI 6 only restricts TCP bind/connect and abstract UNIX sockets" in note and "\n" not in note
    assert "there is no Landlock" in (layers.socket_note(bare) or "")
    assert layers.socket_note(full, 7) is None


def test_the_app_with_require_isolation_refuses_a_degraded_host(full_layers: list[str], monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    # `tutor --require-isolation` (and so `tutor serve --require-isolation`, which starts it per tab):
    # the app's sandbox does not start, with the sentence the app shows naming the missing layer.
    import tutor.app.app as appmod
    import tutor.sandbox
    from tutor import cli
    from tutor.lesson import load_lessons

    monkeypatch.setattr(tutor.sandbox, "Evaluator", functools.partial(Evaluator, disable_layers=["seccomp"]))
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path))
    seen: dict = {}

    class App:
        lesson_problems: list = []
        return_code = 0

        def __init__(self, folder, store, factory) -> None:
            self.lessons, self.factory = load_lessons(folder), factory

        def run(self) -> None:
            try:
                seen["grader"] = self.factory(self.lessons)
            except EvaluatorError as exc:
                seen["refused"] = str(exc)

    monkeypatch.setattr(appmod, "make_app", App)
    folder = str(Path(__file__).parent / "fixtures" / "app_lessons")
    assert cli.main(["--lessons", folder, "--require-isolation"]) == cli.EXIT_OK
    assert "seccomp" in seen.pop("refused") and not seen
    assert cli.main(["--lessons", folder]) == cli.EXIT_OK  # without it, the app runs with the rest
    grader = seen.pop("grader")
    try:
        assert "seccomp" not in grader.evaluator.layers() and "landlock" in grader.evaluator.layers()
    finally:
        appmod.close_grader(grader)


# ---- probes and failures, in-process ------------------------------------------------------------


def test_probe_failures_mean_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ll, "abi_version", lambda: 0)  # a kernel without Landlock
    monkeypatch.setattr(sc, "library", lambda: None)  # no libseccomp (macOS, a minimal container)

    real = layers.libc()

    class NoUnshare:
        def unshare(self, flags: object) -> int:
            return -1

        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

    monkeypatch.setattr(layers, "libc", lambda: NoUnshare() if real is not None else None)  # unshare forbidden
    monkeypatch.setattr(layers, "_available", None)
    try:
        names = layers.active_layers()
        assert "landlock" not in names and "seccomp" not in names and "namespaces" not in names
        assert layers.missing_layers(names) == ["namespaces", "landlock", "seccomp"]
    finally:
        monkeypatch.undo()
        layers._available = None


def test_a_layer_that_fails_to_apply_stops_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        name = "broken"

        def available(self) -> bool:
            return True

        def apply(self, ctx: object) -> None:
            raise OSError("no")

    monkeypatch.setattr(layers, "LAYERS", [Broken()])
    monkeypatch.setattr(layers, "_available", [True])
    with pytest.raises(layers.LayerFailed, match="broken"):
        layers.apply_all(None)  # type: ignore[arg-type]


def test_unknown_layer_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown isolation layers"):
        layers.disable(["selinux"])


def test_landlock_handles_what_each_abi_knows() -> None:
    assert ll.handled(1) == (ll.FS_ABI1, 0, 0)
    fs, net, scoped = ll.handled(6)
    assert fs & ll.FS_TRUNCATE and fs & ll.FS_IOCTL_DEV and net == 3 and scoped == 3


def test_seccomp_filter_compiles_where_libseccomp_exists() -> None:
    if sc.library() is None:
        pytest.skip("libseccomp is not installed here")
    prog = sc.compile_filter()
    assert prog.instructions > 20
