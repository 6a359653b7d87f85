"""Build an aligned face dataset: detect, align (pipelines/faces.py) and store uint8 crops.

    python -m training.prepare --src ../shared/data/faces -o DATA_DIR --size 64

Input: a folder of images and/or .tar shards of images. Output in DATA_DIR:
    <unit>.npz    crops (N, S, S, 3) uint8, names (N,) str, held_out (N,) bool; one per input
                  shard (or per 2,000 loose images), written atomically, skipped when re-run
    index.json    size, seed, counts (read, unreadable, no face, too small, kept), units
The held-out split is a pure function of (seed, image name), so it never changes between runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tarfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
LOOSE_CHUNK = 2000
COUNT_KEYS = ("read", "unreadable", "no_face", "too_small", "kept")


def is_held_out(name: str, seed: int, fraction: float) -> bool:
    """Deterministic split: hash of (seed, name) mapped to [0, 1) below `fraction`."""
    digest = hashlib.sha1(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def list_units(src: Path) -> list[tuple[str, list]]:
    """Input folder -> [(unit name, items)], an item being ('tar', path) or ('file', path)."""
    tars = sorted(src.glob("*.tar"))
    files = sorted(p for p in src.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    units = [(t.stem, [("tar", t)]) for t in tars]
    for i in range(0, len(files), LOOSE_CHUNK):
        units.append((f"images-{i // LOOSE_CHUNK:04d}", [("file", f) for f in files[i : i + LOOSE_CHUNK]]))
    return units


def iter_images(items):
    """Yield (name, bytes) for every image in a unit."""
    for kind, path in items:
        if kind == "file":
            yield path.name, path.read_bytes()
            continue
        with tarfile.open(path) as tar:
            for member in tar:
                if member.isfile() and Path(member.name).suffix.lower() in IMAGE_SUFFIXES:
                    yield member.name, tar.extractfile(member).read()


def count_images(items) -> int:
    n = 0
    for kind, path in items:
        if kind == "file":
            n += 1
        else:
            with tarfile.open(path) as tar:
                n += sum(1 for m in tar if m.isfile() and Path(m.name).suffix.lower() in IMAGE_SUFFIXES)
    return n


def prepare_unit(name: str, items, out_dir: Path, size: int, min_face: float, seed: int, fraction: float, position: int = 0) -> dict:
    """Detect, align and store one unit; returns its counts. Runs in a worker process."""
    import torch

    from pipelines.faces import align_face, detect_faces
    from pipelines.images import ImageError, load_image

    torch.set_num_threads(1)
    counts = dict.fromkeys(COUNT_KEYS, 0)
    crops, names = [], []
    bar = tqdm(iter_images(items), total=count_images(items), desc=name, position=position, leave=False, mininterval=5)
    for image_name, data in bar:
        counts["read"] += 1
        try:
            image = load_image(data, name=image_name)
        except ImageError:
            counts["unreadable"] += 1
            continue
        faces = detect_faces(image)
        if not faces:
            counts["no_face"] += 1
            continue
        face = faces[0]
        if face.size < min_face:
            counts["too_small"] += 1
            continue
        crop, _ = align_face(image, face.landmarks, size)
        crops.append(crop)
        names.append(image_name)
        counts["kept"] += 1
    held = np.array([is_held_out(n, seed, fraction) for n in names], dtype=bool)
    tmp = out_dir / f".{name}.tmp.npz"
    np.savez(
        tmp,
        crops=np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8),
        names=np.array(names),
        held_out=held,
        counts=json.dumps(counts),
    )
    os.replace(tmp, out_dir / f"{name}.npz")
    return counts


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--src", required=True, type=Path, help="folder of images and/or .tar shards")
    p.add_argument("-o", "--out", required=True, type=Path, help="output dataset folder")
    p.add_argument("--size", type=int, default=64, help="side of the aligned crops, pixels")
    p.add_argument("--min-face", type=float, default=40.0, help="smallest face kept (box side, pixels)")
    p.add_argument("--held-out", type=float, default=0.06, help="fraction held out for evaluation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--limit-units", type=int, default=0, help="only the first N units (for tests)")
    args = p.parse_args(argv)
    if not args.src.is_dir():
        print(f"error: --src {args.src}: not a folder", file=sys.stderr)
        return 2
    if args.size < 16 or args.size % 16:
        print(f"error: --size {args.size}: must be a multiple of 16, at least 16", file=sys.stderr)
        return 2
    units = list_units(args.src)
    if args.limit_units:
        units = units[: args.limit_units]
    if not units:
        print(f"error: --src {args.src}: no images or .tar shards found", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    index_path = args.out / "index.json"
    if index_path.exists():
        old = json.loads(index_path.read_text())
        if (old["size"], old["seed"], old["held_out_fraction"]) != (args.size, args.seed, args.held_out):
            print(f"error: {args.out} was prepared with other settings ({old['size']=}, {old['seed']=}); use a new folder", file=sys.stderr)
            return 2
    todo = [(n, items) for n, items in units if not (args.out / f"{n}.npz").exists()]
    print(f"{len(units)} units, {len(units) - len(todo)} already done, {len(todo)} to prepare")
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [
            pool.submit(prepare_unit, n, items, args.out, args.size, args.min_face, args.seed, args.held_out, i % args.workers)
            for i, (n, items) in enumerate(todo)
        ]
        for f in tqdm(futures, desc="units"):
            f.result()
    totals = dict.fromkeys(COUNT_KEYS, 0)
    held = 0
    for n, _ in units:
        with np.load(args.out / f"{n}.npz") as z:
            for k, v in json.loads(str(z["counts"])).items():
                totals[k] += v
            held += int(z["held_out"].sum())
    index = {
        "size": args.size,
        "seed": args.seed,
        "held_out_fraction": args.held_out,
        "units": [n for n, _ in units],
        "counts": totals,
        "held_out": held,
        "train": totals["kept"] - held,
    }
    tmp = args.out / ".index.json.tmp"
    tmp.write_text(json.dumps(index, indent=2))
    os.replace(tmp, index_path)
    print(" ".join(f"{k}={v}" for k, v in totals.items()), f"train={index['train']} held_out={held}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
