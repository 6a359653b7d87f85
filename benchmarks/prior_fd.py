"""Priors compared like for like: each one's samples against the same real faces (dlib descriptors).

    python -m benchmarks.prior_fd --data DATA128 --prior shipped=weights/vqgan:weights/transformer \\
        --prior old64=OLD/vqgan:OLD/transformer [--top-k 100 | --top-k 0] [--seeds 3]

DATA128 is a folder written by `training.prepare --size 128`; its held-out faces (less the 89x109
subset) are the real set, at 128 and area-downsampled to 64. Each draw: n samples from a prior and
n random real faces (n = half the real set), Frechet distance in dlib descriptor space; the floor is
two disjoint halves of the real faces. Prints mean and range over the seeds, and each prior against
the first one seed by seed (the same real faces in each draw, so the pairing removes their share of
the spread): mean difference, its standard error, and in how many seeds it was lower.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from .common import machine, table


@torch.no_grad()
def samples(vqgan, prior, n: int, seed: int, top_k: int | None, batch: int = 64) -> np.ndarray:
    from models.tensors import to_images

    gen = torch.Generator().manual_seed(seed)
    out = [to_images(vqgan.decode_sequence(prior.sample(min(batch, n - i), generator=gen, top_k=top_k))) for i in range(0, n, batch)]
    return np.concatenate(out)


def main(argv=None) -> int:
    from models import VQGAN, CodeTransformer
    from training.data import load_faces
    from training.identity import describe_crops, frechet_distance

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--prior", action="append", required=True, metavar="NAME=VQGAN_DIR:TRANSFORMER_DIR")
    p.add_argument("--top-k", type=int, default=100, help="0: sample the full distribution")
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args(argv)
    faces = load_faces(args.data, "held_out", ("celeba_align_89x109/",)).numpy()
    real = {
        128: describe_crops(faces),
        64: describe_crops(np.stack([cv2.resize(f, (64, 64), interpolation=cv2.INTER_AREA) for f in faces])),
    }
    n = len(faces) // 2
    rows, per_seed = [], {}
    for spec in args.prior:
        name, dirs = spec.split("=", 1)
        vq_dir, prior_dir = dirs.split(":", 1)
        vqgan, prior = VQGAN.from_pretrained(Path(vq_dir)), CodeTransformer.from_pretrained(Path(prior_dir))
        fd = {128: [], 64: []}
        for seed in range(args.seeds):
            described = describe_crops(samples(vqgan, prior, n, seed, args.top_k or None))
            for side, ref in real.items():
                pick = np.random.default_rng(seed).permutation(len(ref))[:n]
                fd[side].append(frechet_distance(described, ref[pick]))
        per_seed[name] = np.array(fd[128])
        rows.append({"prior": name, "FD vs faces at 128": float(np.mean(fd[128])), "range": f"{min(fd[128]):.3f}-{max(fd[128]):.3f}",
                     "FD vs faces at 64": float(np.mean(fd[64]))})  # fmt: skip

    def halves(ref: np.ndarray, seed: int) -> float:
        pick = ref[np.random.default_rng(100 + seed).permutation(len(ref))[: 2 * n]]
        return frechet_distance(pick[:n], pick[n:])

    floor = {side: float(np.mean([halves(ref, s) for s in range(args.seeds)])) for side, ref in real.items()}
    rows.append(
        {
            "prior": "floor (two halves of the real faces)",
            "FD vs faces at 128": float(floor[128]),
            "range": "",
            "FD vs faces at 64": float(floor[64]),
        }
    )
    print(f"{machine()}; {len(faces)} real faces, {n} samples per draw, top-k {args.top_k or 'none'}, {args.seeds} seeds\n")
    print(table(rows))
    first = args.prior[0].split("=", 1)[0]
    paired = []
    for name, fd in list(per_seed.items())[1:]:
        diff = fd - per_seed[first]  # (seeds,) this prior's FD minus the first's, draw by draw
        paired.append({"prior": f"{name} - {first}", "mean difference, FD vs faces at 128": f"{diff.mean():+.4f}",
                       "standard error": f"{diff.std(ddof=1) / np.sqrt(len(diff)):.4f}",
                       "lower in": f"{int((diff < 0).sum())} of {len(diff)} seeds"})  # fmt: skip
    if paired:
        print(f"\npaired by seed against {first}:\n")
        print(table(paired))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
