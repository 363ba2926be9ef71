"""`tutor serve`: the app in a browser. A real server on 127.0.0.1, a real websocket client in the
browser's place: the page loads, the lesson list arrives over the socket, a key reaches the app, and
closing the tab ends that tab's app process. Only listeners this test opens are ever contacted."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tutor import serve

FIXTURES = Path(__file__).parent / "fixtures" / "app_lessons"
ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[PX^_].*?\x1b\\|\x1b[@-Z\\-_]")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> set[int]:
    """Every process below `pid` (its children, theirs...), read from /proc."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(entry))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for kid in kids.get(todo.pop(), []):
            if kid not in out:
                out.add(kid)
                todo.append(kid)
    return out


def test_app_command_runs_this_tutor_with_the_servers_options(tmp_path):
    cmd = serve.app_command(tmp_path, require_isolation=True)
    assert cmd.startswith(f"{sys.executable} -m tutor")
    assert f"--lessons {tmp_path.resolve()}" in cmd and cmd.endswith("--require-isolation")
    assert serve.app_command(None, False) == f"{sys.executable} -m tutor"


def test_the_page_names_an_address_a_browser_can_reach():
    assert serve.page_url("127.0.0.1", 8000, None) == "http://127.0.0.1:8000"
    assert serve.page_url("0.0.0.0", 8000, None) == f"http://{socket.gethostname()}:8000"  # not the wildcard
    assert serve.page_url("::1", 9000, None) == "http://[::1]:9000"
    assert serve.page_url("127.0.0.1", 8001, "https://tutor.example.org/") == "https://tutor.example.org"


def test_a_port_in_use_is_one_sentence_with_the_remedy():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(serve.ServeError) as err:
            serve.check_address("127.0.0.1", port)
    assert f"127.0.0.1:{port} is in use" in str(err.value) and "--port" in str(err.value)
    with pytest.raises(serve.ServeError, match="not a port number"):
        serve.check_address("127.0.0.1", 70000)


def test_cli_reports_a_taken_port_without_a_traceback():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "tutor", "serve", "--port", str(port)],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("tutor: ") and "in use" in done.stderr and "Traceback" not in done.stderr


async def _browser_tab(port: int, deadline: float) -> tuple[str, str]:
    """Open the page's websocket as the page would; return the screen text before and after a key."""
    import aiohttp

    seen = ""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"ws://127.0.0.1:{port}/ws?width=80&height=24") as ws:
            await ws.send_json(["resize", {"width": 80, "height": 24}])

            async def read_until(needle: str) -> str:
                nonlocal seen
                while needle not in ANSI.sub("", seen):
                    left = deadline - time.monotonic()
                    assert left > 0, f"{needle!r} never reached the browser; it got: {ANSI.sub('', seen)[-600:]!r}"
                    try:
                        msg = await ws.receive(timeout=min(left, 5))
                    except asyncio.TimeoutError:
                        continue
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        seen += msg.data.decode("utf-8", "replace")
                    elif msg.type == aiohttp.WSMsgType.TEXT:
                        continue
                    else:
                        raise AssertionError(f"the socket closed early ({msg.type}): {ANSI.sub('', seen)[-600:]!r}")
                return ANSI.sub("", seen)

            before = await read_until("A line by gradient descent")
            seen = ""
            await ws.send_json(["stdin", "\r"])  # open the highlighted lesson
            after = await read_until("Fill in the loss")
    return before, after


def test_the_app_reaches_a_browser_and_a_closed_tab_ends_its_app(tmp_path):
    port = free_port()
    env = {**os.environ, "TUTOR_HOME": str(tmp_path / "home")}
    server = subprocess.Popen(
        [sys.executable, "-m", "tutor", "--lessons", str(FIXTURES), "serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        page = None
        while page is None:
            assert server.poll() is None, server.stdout.read().decode("utf-8", "replace")
            assert time.monotonic() < deadline, "the server never answered"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                    assert resp.status == 200
                    page = resp.read().decode("utf-8")
            except OSError:
                time.sleep(0.2)
        assert f"ws://127.0.0.1:{port}/ws" in page and "<div>tutor</div>" in page  # the name on the page while the app starts

        before, after = asyncio.run(_browser_tab(port, time.monotonic() + 120))
        assert "A function body and a statement" in before  # the whole lesson list, as in a terminal
        assert "A line by gradient descent" in after and "Fill in the loss" in after  # the lesson opened on Enter

        # The tab is closed: its app (and the app's evaluator) go; the server stays.
        deadline = time.monotonic() + 30
        while children(server.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not children(server.pid), "the closed tab's app is still running"
        assert server.poll() is None
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert server.returncode == 0, server.stdout.read().decode("utf-8", "replace")
