"""`tutor` inside JupyterLab through jupyter-server-proxy (`tutor[jupyter]`), as under JupyterHub.

A real `jupyter server` on 127.0.0.1 (token auth, a temporary root and runtime folder, the base URL a
hub gives a learner: /user/learner/) with the extra installed: `tutor` is in the proxy's server list
with its icon, the page comes through /user/learner/tutor/ naming no other host, and through the
proxied websocket the lesson list arrives at 80x24, Enter opens a lesson, and closing the socket ends
that app. The same page in headless Chromium. Only listeners these tests open are ever contacted.

The tests that start a server are skipped, with the reason, when jupyter-server-proxy is not
installed (`pip install -e '.[jupyter]'`; .ci/run installs it).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_serve import (
    _ABSOLUTE, FIXTURES, _browser_tab, _chromium_visit, _css_urls, _References, _same_origin, children, free_port,
)
from tutor import jupyter

TOKEN = "tutor-test-token-3f9c"
PREFIX = "/user/learner/"  # the base URL JupyterHub gives a learner's server
AUTH = {"Authorization": f"token {TOKEN}"}
needs_proxy = pytest.mark.skipif(importlib.util.find_spec("jupyter_server_proxy") is None,
                                 reason="jupyter-server-proxy is not installed: pip install -e '.[jupyter]'")


# ---- the entry point's configuration ------------------------------------------------------------------

def _render(word: str, port: int = 43210, base_url: str = PREFIX) -> str:
    """A command word as jupyter-server-proxy renders it (str.format with its three names)."""
    return word.format(port=port, base_url=base_url, unix_socket="")


def test_the_entry_point_starts_tutor_serve_under_the_proxys_path(monkeypatch):
    monkeypatch.delenv(jupyter.LESSONS_ENV, raising=False)
    config = jupyter.server_config()
    command = [_render(w) for w in config["command"]]
    assert command[:3] == [sys.executable, "-m", "tutor"] and "--lessons" not in command
    at = command.index("serve")
    assert command[at:] == ["serve", "--host", "127.0.0.1", "--port", "43210", "--base-path", "/user/learner/tutor/"]
    assert config["absolute_url"] is False and config["timeout"] >= 30
    entry = config["launcher_entry"]
    assert entry["title"] == "tutor" and entry["enabled"]
    assert Path(entry["icon_path"]).read_text(encoding="utf-8").lstrip().startswith("<svg")


def test_a_course_folder_comes_from_TUTOR_LESSONS_whatever_its_name(tmp_path, monkeypatch):
    course = tmp_path / "ml {2026}"  # braces: the proxy formats every word of the command
    course.mkdir()
    monkeypatch.setenv(jupyter.LESSONS_ENV, str(course))
    command = [_render(w) for w in jupyter.server_config()["command"]]
    assert command[command.index("--lessons") + 1] == str(course.resolve())

    monkeypatch.setenv(jupyter.LESSONS_ENV, str(tmp_path / "missing"))
    with pytest.raises(jupyter.LessonsEnvError, match=r"TUTOR_LESSONS=.*missing is not a folder: set it to"):
        jupyter.server_config()


def test_base_path_is_checked_and_made_one_path():
    from tutor import serve

    assert serve.base_path("user/alice/tutor") == "/user/alice/tutor/"
    assert serve.base_path("/user/a%40b.c/tutor/") == "/user/a%40b.c/tutor/"
    assert serve.base_path("/") == "/"
    for bad in ("https://hub.example.org/user/a/tutor/", "//evil/x/", "/user/a b/", '/x"/', "/a/../b/", "/a?x/"):
        with pytest.raises(serve.ServeError):
            serve.base_path(bad)


def _tutor(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "TUTOR_REQUIRE_ISOLATION"}
    return subprocess.run([sys.executable, "-m", "tutor", *args], capture_output=True, text=True, timeout=120,
                          env={**environ, **env})


def test_serve_options_that_contradict_are_one_sentence():
    done = _tutor("--lessons", str(FIXTURES), "serve", "--port", str(free_port()), "--base-path", "/a/",
                  "--public-url", "http://127.0.0.1:1")
    assert done.returncode == 2 and done.stderr.startswith("tutor: --public-url and --base-path") and "Traceback" not in done.stderr
    done = _tutor("--lessons", str(FIXTURES), "serve", "--port", str(free_port()), "--base-path", "https://x.org/a/")
    assert done.returncode == 2 and "is a whole address" in done.stderr and "Traceback" not in done.stderr


def test_TUTOR_REQUIRE_ISOLATION_is_the_flag_for_a_whole_hub(monkeypatch):
    from tutor import cli, serve

    served: list[bool] = []
    monkeypatch.setattr(serve, "serve", lambda *a, require_isolation, **kw: served.append(require_isolation))
    monkeypatch.setattr(cli, "cmd_app", lambda args: served.append(args.require_isolation) or 0)
    for value, expected in (("1", True), ("yes", True), ("0", False), ("", False)):
        monkeypatch.setenv("TUTOR_REQUIRE_ISOLATION", value)
        served.clear()
        assert cli.main(["--lessons", str(FIXTURES), "serve", "--port", str(free_port())]) == 0
        assert cli.main(["--lessons", str(FIXTURES)]) == 0
        assert served == [expected, expected], value  # `tutor serve` (and so every app it starts), and `tutor`

    # The same refusal as the flag's, in the same words.
    flag = _tutor("doctor", "--require-isolation")
    by_env = _tutor("doctor", TUTOR_REQUIRE_ISOLATION="1")
    assert by_env.returncode == flag.returncode and by_env.stdout.splitlines()[-1] == flag.stdout.splitlines()[-1]
    bad = _tutor("list", TUTOR_REQUIRE_ISOLATION="maybe")
    assert bad.returncode == 2 and bad.stderr.startswith("tutor: TUTOR_REQUIRE_ISOLATION=maybe is neither on nor off")


# ---- a real jupyter server ------------------------------------------------------------------------------

def _get(url: str, timeout: float = 30) -> tuple[int, str, bytes]:
    assert urllib.parse.urlsplit(url).hostname == "127.0.0.1", url  # never anywhere else
    with urllib.request.urlopen(urllib.request.Request(url, headers=AUTH), timeout=timeout) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read()


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def _environ(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        pairs = [item.decode("utf-8", "replace").split("=", 1) for item in f.read().split(b"\0") if b"=" in item]
    return dict(pairs)


def _tutor_serve(jupyter_pid: int) -> int | None:
    """The `tutor serve` that jupyter-server-proxy started, if it runs."""
    found = [p for p in children(jupyter_pid) if "serve" in _cmdline(p) and "tutor" in _cmdline(p)]
    return min(found) if found else None


@contextlib.contextmanager
def _jupyter(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """`jupyter server` on a free 127.0.0.1 port with the proxy enabled, the course's lessons in
    TUTOR_LESSONS and progress in TUTOR_HOME: (its base address, the process). At the end: SIGTERM, and
    everything it started is gone (killed if it lingers)."""
    port = free_port()
    for name in ("root", "runtime", "config", "data", "home"):
        (tmp_path / name).mkdir()
    (tmp_path / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"jupyter_server_proxy": True}}}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "TUTOR_"))}
    env.update(JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTER_DATA_DIR=str(tmp_path / "data"), JUPYTER_PLATFORM_DIRS="1",
               TUTOR_HOME=str(tmp_path / "home"), TUTOR_LESSONS=str(FIXTURES))
    log = (tmp_path / "jupyter.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}",
         f"--ServerApp.root_dir={tmp_path / 'root'}", f"--ServerApp.base_url={PREFIX}"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path / "root", start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}{PREFIX}"
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "jupyter.log").read_text("utf-8", "replace")[-3000:]
            assert time.monotonic() < deadline, "jupyter server never answered"
            try:
                if _get(base + "api/status", timeout=5)[0] == 200:
                    break
            except OSError:
                time.sleep(0.3)
        yield base, server
    finally:
        started = children(server.pid)
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
        deadline = time.monotonic() + 20
        while [p for p in started if _cmdline(p)] and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in started:  # what it started and left behind (it should not); never reached here in practice
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _page(base: str, deadline: float) -> str:
    """The page through the proxy; the first request starts `tutor serve` (the proxy answers 5xx until
    it listens, or when it gave up waiting), so ask again until the deadline."""
    while True:
        try:
            status, kind, body = _get(base + "tutor/", timeout=90)
            assert status == 200 and "html" in kind, (status, kind)
            return body.decode("utf-8")
        except urllib.error.HTTPError as exc:
            assert exc.code >= 500 and time.monotonic() < deadline, f"{base}tutor/ answered {exc.code}"
            time.sleep(1)


@needs_proxy
def test_the_launcher_lists_tutor_with_its_icon(tmp_path):
    with _jupyter(tmp_path) as (base, _server):
        _, _, body = _get(base + "server-proxy/servers-info")
        servers = {s["name"]: s for s in json.loads(body)["server_processes"]}
        assert "tutor" in servers, f"tutor is not in the proxy's list {sorted(servers)}: is `.[jupyter]` installed?"
        entry = servers["tutor"]["launcher_entry"]
        assert entry["enabled"] and entry["title"] == "tutor" and entry["path_info"] == "tutor/"
        status, kind, icon = _get(urllib.parse.urljoin(base, entry["icon_url"]))
        assert status == 200 and kind.startswith("image/svg+xml")
        assert icon == (Path(jupyter.__file__).parent / "icons" / "tutor.svg").read_bytes()


@needs_proxy
def test_the_app_through_the_proxy_names_no_host_and_ends_with_its_socket(tmp_path):
    with _jupyter(tmp_path) as (base, server):
        origin = base[: -len(PREFIX)]
        page = _page(base, time.monotonic() + 180)
        assert "<div>tutor</div>" in page
        assert _ABSOLUTE.findall(page) == []  # no address at all: the browser's own host is the only one
        refs = _References()
        refs.feed(page)
        socket_path = f"{PREFIX}tutor/ws"
        assert socket_path in refs.urls, refs.urls  # a path the page turns into ws://its-own-host/...

        # Every file the page names is under the prefix and comes through the proxy; the fonts too.
        todo = [urllib.parse.urljoin(base + "tutor/", u) for u in refs.urls if u != socket_path]
        seen: dict[str, str] = {}
        while todo:
            url = urllib.parse.urldefrag(todo.pop())[0]
            if url in seen or url.startswith("data:"):
                continue
            assert _same_origin(url, origin) and urllib.parse.urlsplit(url).path.startswith(PREFIX + "tutor/"), url
            status, kind, body = _get(url)
            assert status == 200, (url, status)
            seen[url] = kind
            if url.endswith(".css"):
                todo += [urllib.parse.urljoin(url, u) for u in _css_urls(body.decode("utf-8", "replace"))]
        assert any(u.endswith("/tutor/static/fonts/RobotoMono-VariableFont_wght.ttf") for u in seen), seen
        assert any(u.endswith("/tutor/static/js/textual.js") for u in seen), seen

        # The proxy started `tutor serve` as the learner's server runs: its HOME, the course's lessons.
        serve_pid = _tutor_serve(server.pid)
        assert serve_pid is not None, "no `tutor serve` under the jupyter server"
        assert _environ(serve_pid).get("HOME") == _environ(server.pid).get("HOME")
        assert str(FIXTURES) in _cmdline(serve_pid)  # TUTOR_LESSONS, through the entry point

        ws = origin.replace("http://", "ws://") + socket_path + "?width=80&height=24"
        before, after = asyncio.run(_browser_tab(ws, time.monotonic() + 180, headers=AUTH))
        assert "A function body and a statement" in before  # the course's lesson list, as in a terminal
        assert "A line by gradient descent" in after and "Fill in the loss" in after  # Enter opened the lesson
        assert (tmp_path / "home" / "progress.sqlite3").exists()  # the learner's progress, in their folder

        # The socket closed: its app (and the app's evaluator) go; `tutor serve` stays for the next tab.
        deadline = time.monotonic() + 30
        while children(serve_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not children(serve_pid), "the closed socket's app is still running"
        assert _cmdline(serve_pid), "tutor serve stopped with the tab"


@needs_proxy
def test_chromium_shows_the_app_through_the_proxy(tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    with _jupyter(tmp_path) as (base, _server):
        origin = base[: -len(PREFIX)]
        _page(base, time.monotonic() + 180)  # tutor serve is up before the browser comes
        shot = tmp_path / "page.png"
        requests, screen, body = asyncio.run(
            _chromium_visit(browser, f"{base}tutor/?token={TOKEN}", tmp_path / "profile", shot))
    print(f"chromium requested: {requests}; screenshot: {shot}")
    paths = {urllib.parse.urlsplit(u).path for u in requests}
    assert f"{PREFIX}tutor/ws" in paths, requests  # the page's socket, through the proxy, on the page's host
    assert f"{PREFIX}tutor/static/fonts/RobotoMono-VariableFont_wght.ttf" in paths, requests
    assert [u for u in requests if not u.startswith("data:") and not _same_origin(u, origin)] == []
    assert "A line by gradient descent" in screen and "A function body and a statement" in screen  # the lesson list
    assert "-first-byte" in body.split() and "-closed" not in body.split()  # the terminal shows it; the socket is open
    assert shot.stat().st_size > 10_000  # a drawn page, not a blank one
