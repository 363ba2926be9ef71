"""`tutor serve`: the app in a browser, through textual-serve.

Every browser tab that opens the page gets its own `tutor` app process (and so its own sandboxed
evaluator), started with the same options as the server (`--lessons`, `--require-isolation`), as
the user who runs the server, with that user's progress. There is no login: by default the server
listens on 127.0.0.1 only, and a learner on a shared server reaches it through an SSH tunnel
(`ssh -L 8000:localhost:8000 host`). Listening on another address is the instructor's choice.

The page loads nothing from outside this server (a classroom without internet, or a careful one):
it is our own copy of textual-serve's page template (serve_templates/app_index.html) without the
Google Fonts stylesheet; the font xterm.js asks for comes from textual-serve's own static folder,
like textual.js and xterm.css, and every font stack ends in the browser's monospace fonts.
"""

from __future__ import annotations

import shlex
import socket
import sys
from pathlib import Path

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


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, lessons: Path | None = None,
          require_isolation: bool = False, public_url: str | None = None) -> None:
    """Serve the app until Ctrl+C. Raises ServeError when it cannot listen."""
    check_address(host, port)
    from textual_serve.server import Server

    server = Server(
        app_command(lessons, require_isolation),
        host=host,
        port=port,
        title="tutor",
        public_url=page_url(host, port, public_url),
        templates_path=TEMPLATES,  # absolute: textual-serve joins it to its own folder, which keeps it as is
    )
    server.serve()
