"""`tutor serve`: the app in a browser. A real server on 127.0.0.1, a real websocket client in the
browser's place: the page loads, the lesson list arrives over the socket, a key reaches the app, and
closing the tab ends that tab's app process. Only listeners this test opens are ever contacted."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
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


async def _browser_tab(url: str, deadline: float, headers: dict[str, str] | None = None) -> tuple[str, str]:
    """Open the page's websocket `url` as the page would; return the screen text before and after a key.
    (tests/test_jupyter.py opens it through jupyter-server-proxy, with the server's token in `headers`.)"""
    import aiohttp

    seen = ""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, headers=headers) as ws:
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


@contextlib.contextmanager
def _serving(tmp_path: Path) -> Iterator[tuple[int, str, subprocess.Popen]]:
    """`tutor serve` on a free 127.0.0.1 port: (port, the page, the server process); Ctrl+C at the end,
    after which the server must exit 0."""
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
        yield port, page, server
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert server.returncode == 0, server.stdout.read().decode("utf-8", "replace")


def test_the_app_reaches_a_browser_and_a_closed_tab_ends_its_app(tmp_path):
    with _serving(tmp_path) as (port, page, server):
        assert f"ws://127.0.0.1:{port}/ws" in page and "<div>tutor</div>" in page  # the name on the page while the app starts

        before, after = asyncio.run(_browser_tab(f"ws://127.0.0.1:{port}/ws?width=80&height=24", time.monotonic() + 120))
        assert "A function body and a statement" in before  # the whole lesson list, as in a terminal
        assert "A line by gradient descent" in after and "Fill in the loss" in after  # the lesson opened on Enter

        # The tab is closed: its app (and the app's evaluator) go; the server stays.
        deadline = time.monotonic() + 30
        while children(server.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not children(server.pid), "the closed tab's app is still running"
        assert server.poll() is None


# ---- the page loads nothing from outside this server -------------------------------------------------

_CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)|@import\s+(['"])(.*?)\3""", re.S)
_ABSOLUTE = re.compile(r"""(?:https?|wss?|ftp):(?://|\\/\\/)[^\s"'`<>()\\]+|(?<![\w:/])//[a-z0-9-]+(?:\.[a-z0-9-]+)+\.[a-z]{2,}\b""", re.I)


class _References(HTMLParser):
    """Every URL an HTML page refers to: attributes that load or navigate, and url()/@import in its styles."""

    ATTRS = {"src", "href", "srcset", "poster", "data", "action", "formaction", "background", "xmlns", "manifest",
             "data-session-websocket-url", "data-pingurl"}

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for name, value in attrs:
            if not value:
                continue
            if name in self.ATTRS:
                self.urls += [part.split()[0] for part in value.split(",")] if name == "srcset" else [value]
            elif name == "style":
                self.urls += _css_urls(value)

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.urls += _css_urls(data)


def _css_urls(css: str) -> list[str]:
    return [m.group(2) or m.group(4) for m in _CSS_URL.finditer(css) if (m.group(2) or m.group(4))]


def _same_origin(url: str, origin: str) -> bool:
    u, o = urllib.parse.urlsplit(url), urllib.parse.urlsplit(origin)
    scheme = {"ws": "http", "wss": "https"}.get(u.scheme, u.scheme)
    return scheme == o.scheme and u.hostname == o.hostname and (u.port or 80) == (o.port or 80)


def _fetch(url: str) -> tuple[int, str, bytes]:
    assert urllib.parse.urlsplit(url).hostname == "127.0.0.1", url  # never anywhere else
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read()


def test_the_page_loads_nothing_from_outside_this_server(tmp_path):
    with _serving(tmp_path) as (port, page, _server):
        origin = f"http://127.0.0.1:{port}"
        # No absolute address on the page but this server's (no font CDN, no SVG namespace string either).
        assert [u for u in _ABSOLUTE.findall(page) if not _same_origin(u, origin)] == []
        refs = _References()
        refs.feed(page)
        assert any(u.endswith("/static/js/textual.js") for u in refs.urls), refs.urls
        todo = [urllib.parse.urljoin(origin + "/", u) for u in refs.urls]
        seen: dict[str, str] = {}
        while todo:
            url = urllib.parse.urldefrag(todo.pop())[0]
            if url in seen or url.startswith("data:"):
                continue
            assert _same_origin(url, origin), f"the page refers to {url}, outside this server"
            if urllib.parse.urlsplit(url).scheme in ("ws", "wss"):
                seen[url] = "websocket"  # the app's socket: _browser_tab proves it answers
                continue
            status, kind, body = _fetch(url)
            assert status == 200, (url, status)
            seen[url] = kind
            text = body.decode("utf-8", "replace")
            if "css" in kind or url.endswith(".css"):
                todo += [urllib.parse.urljoin(url, u) for u in _css_urls(text)]
            if "javascript" in kind or url.endswith(".js"):
                # What the bundle could fetch by itself at load: any absolute address in it.
                outside = [u for u in _ABSOLUTE.findall(text) if not _same_origin(u, origin)]
                assert outside == [], f"{url} holds outside addresses: {outside[:5]}"
        kinds = set(seen.values())
        assert any(u.endswith("/static/fonts/RobotoMono-VariableFont_wght.ttf") for u in seen), seen  # the terminal's font too
        assert any("css" in k for k in kinds) and any("javascript" in k for k in kinds), seen
        assert "websocket" in kinds, seen
        assert "fonts.googleapis.com" not in page and "fonts.gstatic.com" not in page


async def _chromium_visit(browser: str, url: str, profile: Path, shot: Path) -> tuple[list[str], str, str]:
    """Open `url` in headless chromium over the DevTools protocol; return every URL the page requested
    (documents, styles, fonts, scripts, images, sockets), the text its websocket received once the app
    drew its screen, and the classes of the page's body then (textual.js adds `-first-byte` when the
    terminal has drawn what arrived, `-closed` when the socket closed). Names resolve to nothing and any other address goes to a dead proxy on 127.0.0.1, so
    the browser cannot reach anything but this machine whatever the page asks for."""
    import base64
    import json

    import aiohttp

    proc = subprocess.Popen(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--proxy-server=http://127.0.0.1:9",
         "--proxy-bypass-list=127.0.0.1", "--remote-debugging-port=0", f"--user-data-dir={profile}",
         "--window-size=1000,600", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    requests: list[str] = []
    received: list[str] = []
    try:
        devtools = None
        while devtools is None:
            line = proc.stderr.readline()
            assert line, "chromium exited before it listened for DevTools"
            found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            devtools = int(found.group(1)) if found else None
        _, _, listing = _fetch(f"http://127.0.0.1:{devtools}/json/list")
        target = next(t for t in json.loads(listing) if t["type"] == "page")["webSocketDebuggerUrl"]
        async with aiohttp.ClientSession() as session, session.ws_connect(target, max_msg_size=0) as ws:
            replies: dict[int, asyncio.Future] = {}

            async def call(method: str, **params: object) -> dict:
                key = len(replies) + 1
                replies[key] = asyncio.get_running_loop().create_future()
                await ws.send_json({"id": key, "method": method, "params": params})
                return await asyncio.wait_for(replies[key], 30)

            async def events() -> None:
                async for msg in ws:
                    d = json.loads(msg.data)
                    p = d.get("params") or {}
                    if d.get("id") in replies:
                        replies[d["id"]].set_result(d.get("result") or {})
                    elif d.get("method") == "Network.requestWillBeSent":
                        requests.append(p["request"]["url"])
                    elif d.get("method") == "Network.webSocketCreated":
                        requests.append(p["url"])
                    elif d.get("method") == "Network.webSocketFrameReceived" and p["response"].get("opcode") == 2:
                        received.append(base64.b64decode(p["response"]["payloadData"]).decode("utf-8", "replace"))

            reader = asyncio.create_task(events())
            await call("Network.enable")
            await call("Page.enable")
            await call("Page.navigate", url=url)
            deadline = time.monotonic() + 90
            while "A line by gradient descent" not in ANSI.sub("", "".join(received)) and time.monotonic() < deadline:
                await asyncio.sleep(0.3)
            await asyncio.sleep(1.0)  # the terminal draws what it received
            shot.write_bytes(base64.b64decode((await call("Page.captureScreenshot", format="png"))["data"]))
            body = (await call("Runtime.evaluate", expression="document.body.className", returnByValue=True))
            body_class = str(body.get("result", {}).get("value", ""))
            reader.cancel()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return requests, ANSI.sub("", "".join(received)), body_class


def test_a_real_browser_asks_nothing_of_any_other_machine(tmp_path):
    import shutil

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    with _serving(tmp_path) as (port, _page, _server):
        requests, screen, _body = asyncio.run(_chromium_visit(browser, f"http://127.0.0.1:{port}/", tmp_path / "profile",
                                                              tmp_path / "page.png"))
    print(f"chromium requested: {requests}; screenshot: {tmp_path / 'page.png'}")
    assert f"ws://127.0.0.1:{port}/ws" in {u.split("?")[0] for u in requests}, requests
    assert any(u.endswith("/static/fonts/RobotoMono-VariableFont_wght.ttf") for u in requests), requests
    assert [u for u in requests if not u.startswith("data:") and not _same_origin(u, f"http://127.0.0.1:{port}")] == []
    assert "A line by gradient descent" in screen and "A function body and a statement" in screen  # the lesson list
