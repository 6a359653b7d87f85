"""Identity and pose of photo swaps, with dlib face descriptors, on pairs of different people.

    python -m benchmarks.swap_identity [--limit N]

For every ordered pair (A, B) of SINGLE_FACE_PHOTOS, the result's face (found again by MTCNN in the
output) is described and compared with A's and B's faces: "closer to A" counts pairs where
d(result, A) < d(result, B). Pose: mean distance between the result's 5 landmarks and B's, in pixels
and as a fraction of B's face size. References with the same measurement: B unchanged, and A's
aligned crop pasted onto B with the same colour correction and blending (no VQGAN).
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from pipelines import FaceSwapPipeline, SwapOptions
from pipelines.blend import color_transfer, feathered, region_mask
from pipelines.faces import align_face, detect_faces, paste_back
from pipelines.images import load_image
from training.identity import describe_faces_in_image

from .common import PHOTOS, SINGLE_FACE_PHOTOS, machine, table


def paste_source_crop(pipe: FaceSwapPipeline, a: np.ndarray, face_a, b: np.ndarray, face_b, opts: SwapOptions) -> np.ndarray:
    """Reference: A's aligned crop itself, colour-corrected and blended into B exactly as a swap is."""
    size = pipe.size
    crop_a, _ = align_face(a, face_a.landmarks, size)
    crop_b, matrix = align_face(b, face_b.landmarks, size)
    region = region_mask(opts.regions, size)
    colored = color_transfer(crop_a, crop_b, region) if opts.color_correction else crop_a
    return paste_back(b, colored, feathered(region, opts.softness) * opts.strength, matrix)


def seam_ratio(pipe: FaceSwapPipeline, result) -> float:
    """Edge strength along the code-mask boundary in the decoded swap, over the same in the decoded
    target alone (1 = the seam is as smooth as the target's own reconstruction there)."""
    import cv2
    import torch

    from pipelines.blend import token_boundary

    cell = pipe.size // pipe.grid
    band = token_boundary(result.token_mask).repeat(cell, 0).repeat(cell, 1)
    plain = pipe.vqgan.decode_indices(torch.from_numpy(result.target_codes[0])[None])
    plain = ((plain[0].permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)

    def edges(img):
        g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))[band].mean()

    return float(edges(result.decoded[0]) / max(edges(plain), 1e-6))


def measure(result: np.ndarray, face_b, desc_a, desc_b) -> dict | None:
    faces = detect_faces(result, min_size=0.5 * face_b.size)
    if not faces:
        return None
    near = min(faces, key=lambda f: np.linalg.norm(f.landmarks.mean(0) - face_b.landmarks.mean(0)))
    d = describe_faces_in_image(result, near.landmarks)
    shift = float(np.linalg.norm(near.landmarks - face_b.landmarks, axis=1).mean())
    return {
        "d_a": float(np.linalg.norm(d - desc_a)),
        "d_b": float(np.linalg.norm(d - desc_b)),
        "shift": shift,
        "shift_rel": shift / face_b.size,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--limit", type=int, default=0, help="only the first N pairs")
    p.add_argument("--harmonize", action="store_true")
    p.add_argument("--regions", default="face")
    p.add_argument("--detail", type=float, default=None, help="override SwapOptions.detail")
    p.add_argument("--no-references", action="store_true", help="measure CodeSwap only")
    p.add_argument("--no-relight", action="store_true", help="the source's shading kept (SwapOptions.relight off)")
    p.add_argument("--no-focus", action="store_true", help="the source's sharpness kept (SwapOptions.focus off)")
    args = p.parse_args(argv)
    pipe = FaceSwapPipeline.from_pretrained()
    opts = SwapOptions(regions=tuple(args.regions.split(",")), harmonize=args.harmonize, target_face="largest",
                       relight=False if args.no_relight else None, focus=not args.no_focus)  # fmt: skip
    if args.detail is not None:
        opts.detail = args.detail
    images = {n: load_image(PHOTOS / n) for n in SINGLE_FACE_PHOTOS}
    faces = {n: max(detect_faces(im), key=lambda f: f.size) for n, im in images.items()}
    descs = {n: describe_faces_in_image(images[n], faces[n].landmarks) for n in images}
    pairs = list(itertools.permutations(SINGLE_FACE_PHOTOS, 2))
    if args.limit:
        pairs = pairs[: args.limit]
    methods = {"B unchanged": [], "A crop pasted (no VQGAN)": [], "CodeSwap": []}
    seams = []
    start = time.time()
    for a, b in pairs:
        swapped = pipe(images[a], images[b], opts)
        swap = swapped.image
        seams.append(seam_ratio(pipe, swapped))
        outputs = {"CodeSwap": swap}
        if not args.no_references:
            outputs["B unchanged"] = images[b]
            outputs["A crop pasted (no VQGAN)"] = paste_source_crop(pipe, images[a], faces[a], images[b], faces[b], opts)
        for name, out in outputs.items():
            m = measure(out, faces[b], descs[a], descs[b])
            methods[name].append(m)
    rows = []
    for name, ms in methods.items():
        if not ms:
            continue
        found = [m for m in ms if m is not None]
        rows.append({
            "method": name,
            "pairs": len(ms),
            "face found": f"{len(found)}/{len(ms)}",
            "closer to A": f"{np.mean([m['d_a'] < m['d_b'] for m in found]) * 100:.0f}%",
            "mean d(result, A)": float(np.mean([m["d_a"] for m in found])),
            "mean d(result, B)": float(np.mean([m["d_b"] for m in found])),
            "landmark shift px": float(np.mean([m["shift"] for m in found])),
            "shift / face size": float(np.mean([m["shift_rel"] for m in found])),
        })  # fmt: skip
    relight = "off" if opts.relight is False else "on (a photo's default)"
    setting = f"regions={args.regions}; harmonize={args.harmonize}; detail={opts.detail}; relight={relight}; focus={opts.focus}"
    print(table(rows, f"Swap identity ({len(pairs)} ordered pairs of {len(images)} people; {setting})"))
    print(f"\nseam edge ratio (decoded swap / decoded target along the code boundary): mean {np.mean(seams):.3f}")
    print(f"{machine()}; {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
