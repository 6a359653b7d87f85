"""torch's thread count while a video swaps (pipelines/threads.py)."""

from __future__ import annotations

import threading

import torch

from pipelines.threads import CORES, half_the_cores


def test_each_of_a_videos_threads_takes_half_the_cores_and_puts_its_count_back():
    half = max(1, CORES // 2)
    before = torch.get_num_threads()
    seen = {}

    def reading_thread():
        outside = torch.get_num_threads()
        with half_the_cores():
            seen["inside"] = torch.get_num_threads()
        seen["after"], seen["outside"] = torch.get_num_threads(), outside

    with half_the_cores():
        assert torch.get_num_threads() == half
        other = threading.Thread(target=reading_thread)
        other.start()
        other.join(10)
    assert torch.get_num_threads() == before
    assert seen["inside"] == half and seen["after"] == seen["outside"]
