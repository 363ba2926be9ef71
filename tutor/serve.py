"""`tutor serve`: the app in a browser, through textual-serve.

Every browser tab that opens the page gets its own `tutor` app process (and so its own sandboxed
evaluator), started with the same options as the server (`--lessons`, `--require-isolation`, which
TUTOR_REQUIRE_ISOLATION=1 also turns on: tutor/cli.py), as the user who runs the server, with that
user's progress. There is no login: by default the server
listens on 127.0.0.1 only, and a learner on a shared server reaches it through an SSH tunnel
(`ssh -L 8000:localhost:8000 host`). Listening on another address is the instructor's choice.

The page loads nothing from outside this server (a classroom without internet, or a careful one):
it is our own copy of textual-serve's page template (serve_templates/app_index.html) without the
Google Fonts stylesheet; the font xterm.js asks for comes from textual-serve's own static folder,
like textual.js and xterm.css, and every font stack ends in the browser's monospace fonts.

Behind a proxy that strips a path prefix (jupyter-server-proxy under JupyterHub: the browser asks for
`/user/alice/tutor/...`, the server gets `/...`), `--base-path /user/alice/tutor/` makes the page name
its files and its websocket under that prefix, as paths on the page's own host: no host, port or
scheme is written into the page, so whatever address the learner's browser used (https, another port,
the hub's name) is the one it connects back to. Without `--base-path` the page is as textual-serve
makes it, with the absolute addresses of `--public-url`. (textual.js builds the address of a file the
app hands to the browser from the host alone, without the prefix: the tutor's app hands none.)
"""

from __future__ import annotations

import re
import shlex
import socket
import sys
from pathlib import Path
from typing import Any

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
TEMPLATES = Path(__file__).resolve().parent / "serve_templates"  # app_index.html: the self-contained page


class ServeError(Exception):
    """The server cannot start (the port is taken, the address is not this machine's): one sentence."""


def app_command(lessons: Path | None, require_isolation: bool) -> str:
    """The shell command textual-serve runs for each browser tab: this Python, this tutor."""
    argv = [sys.executable, "-m", "tutor"]
    if lessons is not None:
        argv += ["--lessons", str(Path(lessons).resolve())]
    if require_isolation:
        argv.append("--require-isolation")
    return shlex.join(argv)


def check_address(host: str, port: int) -> None:
    """Raise ServeError with a remedy when `host:port` cannot be listened on."""
    if not 0 < port < 65536:
        raise ServeError(f"--port {port} is not a port number: use one from 1 to 65535, such as {DEFAULT_PORT}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise ServeError(f"--host {host} is not an address of this machine: use 127.0.0.1 (the default) or one of its own") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(addr)
        except PermissionError:
            raise ServeError(f"port {port} needs administrator rights: choose one above 1023, such as {DEFAULT_PORT}") from None
        except OSError:
            raise ServeError(f"{host}:{port} is in use or not this machine's: choose another --port (or stop what uses it)") from None


def page_url(host: str, port: int, public_url: str | None) -> str:
    """The address the page tells the browser to connect back to: `public_url` when given; for a
    server listening on every address (0.0.0.0, ::), this machine's name, never the wildcard."""
    if public_url:
        return public_url.rstrip("/")
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()
    elif ":" in host:
        host = f"[{host}]"  # an IPv6 address in a URL
    return f"http://{host}:{port}"


# A path the page can carry as it is: letters, digits and the URL path characters that need no quoting
# and that the page's template writes unchanged in an attribute and inside <style> (no quotes, no `&`,
# no `<`, no `\\`, no `?` or `#`). JupyterHub quotes a user name in its URLs with `%`.
_PATH = re.compile(r"/(?:[A-Za-z0-9._~!$()*+,;=:@%-]+/)*")


def base_path(path: str) -> str:
    """`--base-path` as the page uses it: one leading and one trailing slash (`user/a/tutor` ->
    `/user/a/tutor/`). Raises ServeError for a whole address or characters a URL path cannot hold."""
    if "://" in path or path.startswith("//"):
        raise ServeError(f"--base-path {path} is a whole address: give only its path, such as /user/alice/tutor/ "
                         "(use --public-url for an address)")
    parts = [part for part in path.split("/") if part]
    clean = "/" + "".join(part + "/" for part in parts)
    if not _PATH.fullmatch(clean) or {".", ".."} & set(parts):
        raise ServeError(f"--base-path {path!r} is not a URL path: use letters, digits, `-`, `_`, `.` and `/`, "
                         "such as /user/alice/tutor/")
    return clean


def make_server(command: str, host: str, port: int, public_url: str, prefix: str | None) -> Any:
    """textual-serve's Server with our page; with `prefix`, the page names its files and its socket
    under that path on its own host (see the module's docstring)."""
    import aiohttp_jinja2
    from textual_serve.server import Server, to_int

    class PrefixedServer(Server):
        @aiohttp_jinja2.template("app_index.html")
        async def handle_index(self, request: Any) -> dict[str, Any]:
            """textual-serve's context for the page, with paths under the prefix instead of addresses."""
            return {
                "font_size": to_int(request.query.get("fontsize", "16"), 16),
                "app_websocket_url": f"{prefix}ws",  # a path: the page makes it ws(s)://its-own-host/...
                "config": {"static": {"url": f"{prefix}static/"}},
                "application": {"name": self.title},
            }

    return (Server if prefix is None else PrefixedServer)(
        command,
        host=host,
        port=port,
        title="tutor",
        public_url=public_url,
        templates_path=TEMPLATES,  # absolute: textual-serve joins it to its own folder, which keeps it as is
    )


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, lessons: Path | None = None,
          require_isolation: bool = False, public_url: str | None = None, prefix: str | None = None) -> None:
    """Serve the app until Ctrl+C (or SIGTERM, as jupyter-server-proxy stops it). `prefix` is
    `--base-path`. Raises ServeError when it cannot listen or the options contradict each other."""
    if prefix is not None:
        if public_url:
            raise ServeError("--public-url and --base-path both say where the browser finds the page: give one "
                             "(--base-path behind a proxy that strips a path, --public-url otherwise)")
        prefix = base_path(prefix)
    check_address(host, port)
    server = make_server(app_command(lessons, require_isolation), host, port, page_url(host, port, public_url), prefix)
    server.serve()
