"""Length-prefixed frames: how the client, the worker and a pre-forked child talk (docs/sandbox.md).

A frame is a 4-byte big-endian length and that many bytes of payload; a request or a reply is a
JSON frame (ASCII, no NaN), a child's result blob a binary one. One reader and one writer serve every
end: the client reads with a deadline, the worker and its children block.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

from tutor.sandbox import wire

FRAME_MAX = wire.MAX_BYTES + 16 * 1024 * 1024  # the largest frame: a result blob at its cap, and room
_HEAD = struct.Struct(">I")
_CHUNK = 1 << 20  # bytes read at a time
_SMALL = 65536  # a payload below this goes out in one write with its length


class FrameTooLarge(ValueError):
    """The other end announced a frame over the limit; nothing of it is read."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"a frame of {size} bytes is over the {limit}-byte limit")
        self.size = size


class FrameTimeout(Exception):
    """The deadline passed before the whole frame arrived."""


def read_exact(fd: int, n: int, deadline: float | None = None) -> bytearray | None:
    """`n` bytes from `fd`, read straight into one buffer (a 64 MiB blob is never held twice), or None
    at end of file. With a `deadline` (time.monotonic()), FrameTimeout once it passes; OSError as raised."""
    buf = bytearray(n)
    poller = None
    if deadline is not None:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
    got = 0
    with memoryview(buf) as view:
        while got < n:
            if poller is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FrameTimeout("no whole frame before the deadline")
                if not poller.poll(min(left, 3600) * 1000):
                    continue
            k = os.readv(fd, [view[got : got + _CHUNK]])
            if not k:
                return None
            got += k
    return buf


def read_frame(fd: int, limit: int = FRAME_MAX, deadline: float | None = None) -> bytes | bytearray | None:
    """One frame's payload, or None at end of file (before or inside the frame); FrameTooLarge when its
    length is over `limit`."""
    head = read_exact(fd, 4, deadline)
    if head is None:
        return None
    (size,) = _HEAD.unpack(head)
    if size > limit:
        raise FrameTooLarge(size, limit)
    if size == 0:
        return b""
    return read_exact(fd, size, deadline)


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_frame(fd: int, payload: bytes | bytearray) -> None:
    head = _HEAD.pack(len(payload))
    if len(payload) < _SMALL:
        write_all(fd, head + payload)
    else:
        write_all(fd, head)
        write_all(fd, payload)


def encode_json(obj: Any) -> bytes:
    """The payload of a JSON frame: compact ASCII; ValueError for NaN or inf, TypeError for what JSON lacks."""
    return json.dumps(obj, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def write_json(fd: int, obj: Any) -> None:
    write_frame(fd, encode_json(obj))
