"""Reference runs kept on disk, so a new process does not repeat them.

A lesson's reference run is the same every time it is made from the same job (the program, its data,
its seed) by the same sandbox code and the same numpy and torch on the same machine: mlp-regression's
takes 6 to 8 s, and every `tutor` process (the app, `tutor grade`, `tutor check`, a class's grading)
used to make it again. `ReferenceCache` keeps each successful reference run in one file, named by a
digest of everything that could change it:

- the job itself (program source, data entries, seed, timeout, what is captured), canonical JSON;
- each dataset file the job reads: its path, size and modification time;
- the sandbox's own code (every module of tutor/sandbox, by content), the Python, numpy and torch
  versions (read from the installed metadata: this process never imports torch), the machine's
  architecture, CPU model and host name, and the thread and BLAS settings the worker passes on.

A file holds the worker's reply fields (JSON) and the run's result blob in the wire format
(tutor/sandbox/wire.py); reading it back goes through `client.outcome_from`, the same checks a run's
result passes, so a damaged or planted file is a miss (and is removed), never unpickled or evaluated.
Failed runs are not kept. The folder keeps the `MAX_FILES` files used last; writing is atomic (a
temporary file renamed), so processes sharing the folder never read half a file. Any error of the
file system turns the cache off for that call: a reference run is then made as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import struct
import sys
import tempfile
from pathlib import Path
from typing import Any

MAGIC = b"TUTORREF1\n"
REPLY_MAX = 4 * 1024 * 1024  # the reply's JSON: stdout is capped well below this by the worker
MAX_FILES = 64
_PREFIX = len(MAGIC) + 4
_REPLY_KEYS = ("status", "exit", "signal", "marker", "stdout", "stdout_truncated", "wall")
_fingerprint: str | None = None


def environment_fingerprint() -> str:
    """What, besides the job, decides a run's values on this machine (computed once per process)."""
    global _fingerprint
    if _fingerprint is None:
        from importlib import metadata

        from tutor.sandbox.layers import ENV_KEEP

        h = hashlib.sha256()
        sandbox = Path(__file__).resolve().parent.parent / "sandbox"
        for path in sorted(sandbox.glob("*.py")):
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        parts = [sys.version, platform.machine(), platform.node(), _cpu_model()]
        for dist in ("numpy", "torch"):
            try:
                parts.append(f"{dist}={metadata.version(dist)}")
            except metadata.PackageNotFoundError:
                parts.append(f"{dist}=none")
        parts += [f"{k}={os.environ.get(k, '')}" for k in ENV_KEEP]
        h.update("\0".join(parts).encode("utf-8", "replace"))
        _fingerprint = h.hexdigest()
    return _fingerprint


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("model name", "Processor", "cpu model")):
                    return line.split(":", 1)[-1].strip()
    except OSError:
        pass
    return platform.processor()


def job_key(job: dict) -> str:
    """The digest a reference job's run is kept under."""
    h = hashlib.sha256(environment_fingerprint().encode())
    h.update(json.dumps(job, sort_keys=True, ensure_ascii=True, default=str).encode())
    data = job.get("data")
    for entry in (data.values() if isinstance(data, dict) else ()):
        csv = entry.get("csv") if isinstance(entry, dict) else None
        if isinstance(csv, str):
            try:
                st = os.stat(csv)
                h.update(f"\0{csv}\0{st.st_size}\0{st.st_mtime_ns}".encode("utf-8", "replace"))
            except OSError:
                h.update(f"\0{csv}\0missing".encode("utf-8", "replace"))
    return h.hexdigest()


def _ended_well(outcome: Any) -> bool:
    """The worker ran the job and the program itself ended without an error: the only runs kept."""
    return outcome.status == "ok" and isinstance(outcome.header, dict) and outcome.header.get("status") == "ok"


class ReferenceCache:
    """Successful reference runs, one file each in `folder`, shared by every process that uses it."""

    def __init__(self, folder: str | Path, *, max_files: int = MAX_FILES) -> None:
        self.folder = Path(folder)
        self.max_files = max_files

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.ref"

    def get(self, job: dict) -> Any:
        """The kept outcome of `job` (a client.JobOutcome with status "ok"), or None."""
        from tutor.sandbox import wire
        from tutor.sandbox.client import outcome_from

        path = self._path(job_key(job))
        try:
            with open(path, "rb") as f:
                data = f.read(wire.MAX_BYTES + REPLY_MAX + _PREFIX + 1)
        except OSError:
            return None
        outcome = None
        if data.startswith(MAGIC) and len(data) >= _PREFIX:
            (n,) = struct.unpack(">I", data[len(MAGIC):_PREFIX])
            try:
                reply = json.loads(data[_PREFIX:_PREFIX + n]) if n <= REPLY_MAX else None
            except ValueError:
                reply = None
            if isinstance(reply, dict):
                outcome = outcome_from(job, reply, data[_PREFIX + n:])
        if outcome is None or not _ended_well(outcome):
            self._remove(path)
            return None
        try:
            os.utime(path)  # used now: the last to be pruned
        except OSError:
            pass
        return outcome

    def put(self, job: dict, outcome: Any) -> None:
        """Keeps `outcome` (a successful run of `job`); a failure to write is ignored."""
        from tutor.sandbox import wire

        if not _ended_well(outcome):
            return
        reply = {k: getattr(outcome, k) for k in _REPLY_KEYS}
        try:
            head = json.dumps(reply, ensure_ascii=True).encode("ascii")
            blob = wire.encode(outcome.header, list(outcome.arrays))
        except (TypeError, ValueError, wire.WireError):
            return
        if len(head) > REPLY_MAX:
            return
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".ref-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(MAGIC + struct.pack(">I", len(head)) + head + blob)
                os.replace(tmp, self._path(job_key(job)))
            except BaseException:
                self._remove(Path(tmp))
                raise
            self._prune()
        except OSError:
            return

    def _prune(self) -> None:
        files = []
        for path in self.folder.glob("*.ref"):
            try:
                files.append((path.stat().st_mtime_ns, path))
            except OSError:
                continue
        files.sort(reverse=True)
        for _, path in files[self.max_files:]:
            self._remove(path)

    @staticmethod
    def _remove(path: Path) -> None:
        try:
            path.unlink()
        except OSError:
            pass
