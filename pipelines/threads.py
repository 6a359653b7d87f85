"""Torch's threads while a video is swapped: half the cores for each of the video's two threads.

A video swap runs two threads of its own that both call torch: one reads and tracks the next batch
and finds its faces' landmarks (MTCNN, the face mesh), the other swaps the current one (the VQGAN).
With torch's default, a thread per core, each call spreads over every core, and the two threads'
pools wait and spin against each other; with half the cores each, the two run side by side. On 2
cores, the singer clip at 720p: 20.0 -> 21.9 fps (median of 5 rounds interleaved; benchmarks/RESULTS.md,
Video).

torch's count (OpenMP's) belongs to the thread that sets it, so each of the two threads sets its own
and puts back what it had. (Set on a program's main thread, it is also the count of the threads that
have not set one of their own.)
"""

from __future__ import annotations

import contextlib

import torch

CORES = torch.get_num_threads()  # torch's default: a thread per core


@contextlib.contextmanager
def half_the_cores():
    """Within: torch calls from this thread use half the cores (at least one thread); restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, CORES // 2))
    try:
        yield
    finally:
        torch.set_num_threads(before)
