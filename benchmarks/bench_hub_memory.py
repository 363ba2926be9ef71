"""Memory of one learner under JupyterHub: the figures behind docs/deploy.md's limits.

Starts what a hub starts for a learner, on 127.0.0.1: a `jupyter server` with `tutor[jupyter]`, opens
the tutor through the proxy's path (so jupyter-server-proxy starts `tutor serve`), opens the app's
websocket at 80x24 as the browser does, opens the PyTorch lesson, types its eleven blanks (one of them
wrong) and checks them (ctrl+r): the reference, the learner's run and the shadow run train in the
sandbox. Then it waits idle. Every 0.1 s it reads, from /proc, the RSS and the PSS
(shared pages split between the processes that share them: their sum is what the learner's cgroup is
charged, near enough) of each process of the learner's tree, by role:

    jupyter server · tutor serve · app (the Textual UI) · evaluator (the warm sandbox worker, numpy
    and torch loaded) · run children (forked from the evaluator: a check's runs, and the pre-forked)

and prints the peak of each, per phase (lesson open and idle; during the check; after it), and the
peak of the sum. Asserts nothing.

    python benchmarks/bench_hub_memory.py [--idle 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

TOKEN = "bench-token"
PREFIX = "/user/learner/"
ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[PX^_].*?\x1b\\|\x1b[@-Z\\-_]")
# linreg-torch's eleven blanks, in order: right, but some in the learner's own wording (so the learner's run
# compares them in place), and the loss doubled (so the shadow run and the isolation runs start too).
ANSWERS = ["(torch.tensor(X, dtype=torch.float32).reshape(400, 1))", "torch.tensor(y, dtype=torch.float32).view(-1, 1)",
           "nn.Linear(1, 1)", "nn.MSELoss()", "optim.SGD(model.parameters(), lr=0.5)", "zero_grad()", "model(X_tensor)",
           "2 * criterion(pred_y, y_tensor)", "backward()", "step()", "(model(X_tensor).detach().numpy())"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree() -> dict[int, tuple[int, list[str]]]:
    """pid -> (ppid, cmdline) for every process."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
            except (OSError, ValueError, IndexError):
                continue
            out[int(entry)] = (ppid, cmd)
    return out


def memory_kib(pid: int) -> tuple[int, int, int]:
    """(RSS, PSS, anonymous PSS) in KiB, from smaps_rollup: the last is the process's own heap and
    copy-on-write share, which no other learner's processes can share (shared libraries can)."""
    fields = {"Rss:": 0, "Pss:": 0, "Pss_Anon:": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key = line.split(maxsplit=1)[0]
                if key in fields:
                    fields[key] = int(line.split()[1])
    except OSError:
        pass
    return fields["Rss:"], fields["Pss:"], fields["Pss_Anon:"]


def roles(root: int) -> dict[int, str]:
    """Each process below (and including) the jupyter server, named by its role."""
    procs = tree()
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        kids.setdefault(ppid, []).append(pid)
    named = {root: "jupyter server"}
    todo = [root]
    while todo:
        parent = todo.pop()
        for pid in kids.get(parent, []):
            cmd = procs[pid][1]
            up = named[parent]
            if "serve" in cmd and "tutor" in cmd:
                role = "tutor serve"  # and the /bin/sh through which textual-serve starts each app
            elif "-m" in cmd and "tutor" in cmd:
                role = "app (UI)"
            elif up == "app (UI)" and "-P" in cmd:
                role = "evaluator"
            elif up in ("evaluator", "run children"):
                role = "run children"
            else:
                role = up if up != "jupyter server" else "other"
            named[pid] = role
            todo.append(pid)
    return named


class Sampler(threading.Thread):
    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.phase, self.stop = root, "start", False
        self.peaks: dict[tuple[str, str], list[int]] = {}  # (phase, role) -> [rss, pss, anon pss, count]

    def run(self) -> None:
        while not self.stop:
            per_role: dict[str, list[int]] = {}
            for pid, role in roles(self.root).items():
                agg = per_role.setdefault(role, [0, 0, 0, 0])
                for i, kib in enumerate((*memory_kib(pid), 1)):
                    agg[i] += kib
            per_role["TOTAL"] = [sum(v[i] for v in per_role.values()) for i in range(3)] + [0]
            for role, now in per_role.items():
                old = self.peaks.setdefault((self.phase, role), [0, 0, 0, 0])
                old[:] = [max(a, b) for a, b in zip(old, now)]
            time.sleep(0.1)


async def drive(ws_url: str, sampler: Sampler, idle: float) -> None:
    import aiohttp

    seen = ""

    async def until(ws, needle: str, limit: float = 180) -> None:
        nonlocal seen
        deadline = time.monotonic() + limit
        while needle not in ANSI.sub("", seen):
            msg = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
            if msg.type == aiohttp.WSMsgType.BINARY:
                seen += msg.data.decode("utf-8", "replace")
            elif msg.type != aiohttp.WSMsgType.TEXT:
                raise SystemExit(f"the socket closed while waiting for {needle!r}")

    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url, headers={"Authorization": f"token {TOKEN}"}, max_msg_size=0) as ws:
            await ws.send_json(["resize", {"width": 80, "height": 24}])
            await until(ws, "Linear regression with PyTorch")
            await ws.send_json(["stdin", "\x1b[B"])  # down to the second lesson: linreg-torch
            await asyncio.sleep(0.5)
            seen = ""
            await ws.send_json(["stdin", "\r"])
            await until(ws, "X_tensor")
            sampler.phase = "lesson open, idle"
            await asyncio.sleep(idle)
            for i, answer in enumerate(ANSWERS):
                await ws.send_json(["stdin", answer])
                if i < len(ANSWERS) - 1:
                    await ws.send_json(["stdin", "\t"])
                await asyncio.sleep(0.3)
            seen = ""
            sampler.phase = "during the check"
            start = time.monotonic()
            await ws.send_json(["stdin", "\x12"])  # ctrl+r
            await until(ws, "of 11 right")
            print(f"the check took {time.monotonic() - start:.1f} s from ctrl+r to the verdicts on screen")
            sampler.phase = "after the check, idle"
            await asyncio.sleep(idle)
            print("screen after the check:", " ".join(ANSI.sub("", seen).split())[-300:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before and after the check")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tutor-hub-mem-"))
    for name in ("root", "runtime", "config", "data", "home"):
        (tmp / name).mkdir()
    (tmp / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"jupyter_server_proxy": True}}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "TUTOR_"))}
    env.update(JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTER_DATA_DIR=str(tmp / "data"), TUTOR_HOME=str(tmp / "home"))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}",
         f"--ServerApp.root_dir={tmp / 'root'}", f"--ServerApp.base_url={PREFIX}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}{PREFIX}"
    sampler = Sampler(server.pid)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                req = urllib.request.Request(base + "tutor/", headers={"Authorization": f"token {TOKEN}"})
                with urllib.request.urlopen(req, timeout=90) as resp:
                    resp.read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the jupyter server or the proxied tutor never answered") from None
                time.sleep(0.5)
        sampler.start()
        asyncio.run(drive(f"ws://127.0.0.1:{port}{PREFIX}tutor/ws?width=80&height=24", sampler, args.idle))
    finally:
        sampler.stop = True
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    order = ["jupyter server", "tutor serve", "app (UI)", "evaluator", "run children", "other", "TOTAL"]
    print(f"{'phase':<24}{'process':<16}{'peak RSS MiB':>14}{'peak PSS MiB':>14}{'anon PSS MiB':>14}{'procs':>7}")
    for phase in ("lesson open, idle", "during the check", "after the check, idle"):
        for role in order:
            if (phase, role) in sampler.peaks:
                rss, pss, anon, n = sampler.peaks[(phase, role)]
                print(f"{phase:<24}{role:<16}{rss / 1024:>14.0f}{pss / 1024:>14.0f}{anon / 1024:>14.0f}{n or '':>7}")


if __name__ == "__main__":
    main()
