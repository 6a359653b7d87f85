"""End-to-end photo swap time on 2 cores for two ~1 megapixel photos with one face each.

python -m benchmarks.swap_speed [--repeats 10]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from pipelines import FaceSwapPipeline
from pipelines.images import load_image

from .common import PHOTOS, machine, table


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--harmonize", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    pipe = FaceSwapPipeline.from_pretrained()
    source = load_image(PHOTOS / "man_portrait_flags_720p.jpg")  # 1280x720
    target = load_image(PHOTOS / "woman_redhair_wide.jpg")  # 1280x799
    pipe(source, target, harmonize=args.harmonize)  # warm-up (first MTCNN call allocates)
    runs = [pipe(source, target, harmonize=args.harmonize).timings for _ in range(args.repeats)]
    rows = [
        {"stage": k, "median ms": float(np.median([r[k] for r in runs]) * 1000), "max ms": float(np.max([r[k] for r in runs]) * 1000)}
        for k in runs[0]
    ]
    mp = f"{source.shape[1]}x{source.shape[0]} + {target.shape[1]}x{target.shape[0]}"
    print(table(rows, f"Photo swap, {mp}, {args.repeats} runs, harmonize={args.harmonize}"))
    print(f"\n{machine()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
