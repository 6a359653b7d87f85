"""The background producer under the video swap: order, errors, early stops, and that it runs ahead."""

from __future__ import annotations

import contextlib
import threading

import pytest

from pipelines.prefetch import prefetched


def test_items_come_in_order_made_in_another_thread():
    made_in = []

    def numbers():
        for i in range(50):
            made_in.append(threading.current_thread())
            yield i

    assert list(prefetched(numbers(), depth=2)) == list(range(50))
    assert set(made_in) == {made_in[0]} and made_in[0] is not threading.current_thread()


def test_the_producer_runs_ahead_of_the_consumer():
    second_made = threading.Event()

    def items():
        yield 0
        yield 1
        second_made.set()
        yield 2

    it = prefetched(items(), depth=1)
    assert next(it) == 0
    # while the consumer holds item 0, the producer makes the next one (1 queued, 2 waiting to be)
    assert second_made.wait(timeout=10)
    assert list(it) == [1, 2]


def test_a_producer_error_is_raised_where_its_item_would_be():
    def failing():
        yield 1
        yield 2
        raise ValueError("frame 3 is damaged")

    got = []
    with pytest.raises(ValueError, match="frame 3 is damaged"):
        for x in prefetched(failing()):
            got.append(x)
    assert got == [1, 2]


def test_a_consumer_that_stops_early_stops_and_closes_the_producer():
    closed, made = threading.Event(), []

    def endless():
        try:
            i = 0
            while True:
                made.append(i)
                yield i
                i += 1
        finally:
            closed.set()  # as the video's reader stops ffmpeg

    with pytest.raises(RuntimeError, match="writer failed"), contextlib.closing(prefetched(endless(), depth=2)) as it:
        for x in it:
            if x == 3:
                raise RuntimeError("writer failed")
    assert closed.is_set()  # closed, in the producer's thread, before the consumer's error went on
    assert len(made) <= 3 + 2 + 2  # it stopped: at most depth items queued and one in hand past the last taken
