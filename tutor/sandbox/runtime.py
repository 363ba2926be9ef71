"""Runs inside the forked child, after the isolation layers: execute one job and describe what happened.

Minimal first version (being extended): executes the source and reports success or the exception.
"""

from __future__ import annotations

from typing import Any


def execute(job: dict, modules: dict[str, Any], data: dict[str, Any], marker: Any) -> tuple[dict, list]:
    """Run `job["source"]` with `modules` and `data` in its namespace; return (header, arrays).

    `marker.set(i)` records which blank is running (None when none). Never raises for anything the
    program does: exceptions become header["status"] == "error" with header["error"].
    """
    namespace: dict[str, Any] = {"__name__": "__lesson__"}
    namespace.update(modules)
    namespace.update(data)
    try:
        code = compile(job["source"], job.get("filename", "<lesson>"), "exec")
        exec(code, namespace)
    except MemoryError:
        return {"status": "error", "error": {"type": "MemoryError", "message": "out of memory"}}, []
    except BaseException as exc:  # noqa: BLE001 - anything the program raises is a result
        return {"status": "error", "error": {"type": type(exc).__name__, "message": str(exc)[:2000]}}, []
    return {"status": "ok"}, []
