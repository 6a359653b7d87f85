"""Run a generator a few items ahead of its consumer, in a background thread.

The video swap reads and tracks the next batch of frames while the current batch is swapped: the
two halves then share the machine's two cores (PyTorch, OpenCV, NumPy and the TFLite runtime let go
of Python's lock while they compute). The order of the items and every exception stay as they were;
only the time at which an item is made changes.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


def prefetched(items: Generator[T, None, None], depth: int = 2) -> Iterator[T]:
    """items -> the same items, made by a background thread at most `depth` ahead of the consumer.

    An exception in the producer is raised in the consumer where the next item would have come. When
    the consumer closes this generator early (contextlib.closing around the loop: a loop left by an
    exception or a break does not close it), the producer stops at its next item and `items` is
    closed in the producer's thread (its `finally` clauses run there: ffmpeg is stopped)."""
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(entry) -> bool:  # put, unless the consumer has gone (then the queue may never drain)
        while not stop.is_set():
            try:
                handoff.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer((item, None)):
                    return
            offer((_END, None))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, raised there
            offer((_END, e))
        finally:
            items.close()

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, error = handoff.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        worker.join()
