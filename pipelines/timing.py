"""Seconds per named stage, summed over repeats: what the pipelines report as `timings`.

times = Timings()
with times("detect"):
    faces = detect_faces(image)
times  ->  {"detect": 0.012}
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Timings(dict[str, float]):
    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self[stage] = self.get(stage, 0.0) + time.perf_counter() - start
