"""Sampling speed: 16 full code grids from the transformer with and without the KV cache, and
the latency of each family's sampler.

    python -m benchmarks.sampling
"""

from __future__ import annotations

import time

import torch

from pipelines.sampling import SamplingPipeline

from .common import machine, table


def timed(fn, repeats: int = 3) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> int:
    torch.set_num_threads(2)
    pipe = SamplingPipeline.from_pretrained()
    tr = pipe.models["transformer"]
    length = pipe.models["vqgan"].config.grid_size ** 2
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    cached = timed(lambda: tr.sample(16, length=length, top_k=100, generator=gen()))
    uncached = timed(lambda: tr.sample(16, length=length, top_k=100, generator=gen(), use_cache=False), repeats=1)
    rows = [
        {"what": f"transformer, 16 x {length} tokens, KV cache", "seconds": cached},
        {"what": f"transformer, 16 x {length} tokens, recomputing the prefix", "seconds": uncached},
        {"what": "KV-cache speed-up", "seconds": uncached / cached},
    ]
    for family in ("ae", "vae", "gan", "vqgan"):
        rows.append(
            {"what": f"{family}: 16 samples, decoded (SamplingPipeline.sample)", "seconds": timed(lambda f=family: pipe.sample(f, 16, 0))}
        )
    print(table(rows, "Sampling latency (best of 3)"))
    print(f"\n{machine()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
