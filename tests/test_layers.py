"""Degraded hosts: each missing isolation layer is simulated, reported, refused on demand, and the rest still hold."""

from __future__ import annotations

import functools
import socket
import sys
import threading
from pathlib import Path

import pytest

from tutor.sandbox import Evaluator, EvaluatorError, layers
from tutor.sandbox import landlock as ll
from tutor.sandbox import seccomp as sc

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the OS layers are Linux ones")

LIBC = "c = np.ctypeslib.ctypes.CDLL(None, use_errno=True)\n"


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
    "addr = (np.ctypeslib.ctypes.c_char * 16)(*bytes([2, 0, PORT >> 8, PORT & 255, 127, 0, 0, 1] + [0] * 8))\n"
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
