"""Read a long answer ahead of its parser, so the server never waits on it.

A list answer is parsed as its pieces arrive (gate.cluster.listbody). Read and parsed in one thread,
the socket is not read while a piece is parsed; once the kernel's buffer is full the API server stops
writing, and the two take turns instead of working at once (measured on kube-apiserver v1.36, 20,000
pods: 2.7-3.6 s read and parsed in turn, 2.2-2.4 s with the reading ahead, benchmarks/README.md). Here
a thread reads up to `depth` pieces ahead (8 MB: memory stays bounded when the parser is slower than
the network) while the caller parses. The reader runs in a copy of the caller's context, so the
caller's deadline (gate.engine.deadlines) bounds its reads; what it raises is raised to the caller in
order, after the pieces read before it. An answer of one piece never starts a thread.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterator

DEPTH = 32  # pieces read ahead at most: 32 x 256 kB
_END = object()


def ahead(pieces: Iterator[bytes], depth: int = DEPTH) -> Iterator[bytes]:
    """`pieces`, read by a thread up to `depth` pieces ahead of the caller."""
    first = next(pieces, None)
    if first is None:
        return
    yield first
    second = next(pieces, None)
    if second is None:
        return
    yield second
    box: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def read() -> None:
        try:
            for piece in pieces:
                if not _put(box, piece, stop):
                    return
            _put(box, _END, stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, who raises it
            _put(box, exc, stop)
        finally:
            if stop.is_set():
                pieces.close()  # type: ignore[attr-defined]  # the caller gave up: the answer is cut

    threading.Thread(target=contextvars.copy_context().run, args=(read,), name="gate-read-ahead",
                     daemon=True).start()
    try:
        while True:
            item = box.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _put(box: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Put `item` when there is room; False when the caller has stopped reading."""
    while not stop.is_set():
        try:
            box.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
