"""Skin tone: does the swapped face take the target's skin colour?

    python -m benchmarks.skin_tone [--weights DIR]

The colour correction (pipelines/blend.py: color_transfer on region_core, its mean lightness from
skin_core) should leave the swapped face's skin where the target's was. Measured in three skin
patches of the face aligned at 128 by the target's own landmarks, well inside the swapped region
(below each eye beside the nose, and the nose bridge): the mean LAB (OpenCV's 8-bit scale, L in
0-255) of the result minus the target's, averaged over the patches. The table gives the mean
absolute difference per channel and its mean (the bias: positive L = the swapped face is lighter
than the target's), and the mean CIE76 colour difference dE* (in CIELAB units, where L* is 100/255
of OpenCV's L: about 2.3 is a just-noticeable difference).

Photos: 4 sources onto the 10 large-face photos (benchmarks/swap_realism.py), and onto 3 photos in
coloured or dim light (a dark-skinned woman under pink light with a toothy smile, a dark movie still,
a red-carpet flash photo), where a pale source had come out light on a dark face. Video frames:
every 15th frame of the hamilton clip (first 20) and every 25th of the singer clip (first 12), with
woman_redhair_wide.jpg as the source, swapped as photos. expression=target throughout, as a video is.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from pipelines import FaceSwapPipeline, SwapOptions
from pipelines.faces import align_face, detect_faces
from pipelines.images import load_image

from .common import PHOTOS, VIDEOS, machine, table
from .swap_realism import REALISM_PHOTOS, VIDEO_SOURCE, frames

SOURCES = ["woman_redhair_wide.jpg", "man_laughing_closeup.png", "man_sports_jersey.jpg", "woman_looking_down.jpg"]
HARD_LIGHT = ["woman_pink_hat_arm_raised.jpg", "man_movie_still_dark.png", "two_people_red_carpet.jpg"]
CLIP_FRAMES = [("stage_speech_hamilton_clip.mp4", 15, 20), ("singer_music_video_720p.mp4", 25, 12)]  # (clip, every, how many)
# (x0, y0, x1, y1) in unit coordinates of the aligned crop: the cheeks under the eyes, the nose bridge
PATCHES = [(0.34, 0.50, 0.43, 0.58), (0.57, 0.50, 0.66, 0.58), (0.45, 0.40, 0.55, 0.48)]


def skin_lab(image: np.ndarray, landmarks: np.ndarray, side: int = 128) -> np.ndarray:
    """(3,) mean LAB of the skin patches of the face with these (5, 2) landmarks."""
    lab = cv2.cvtColor(align_face(image, landmarks, side)[0], cv2.COLOR_RGB2LAB).astype(np.float64)
    return np.mean([lab[int(y0 * side) : int(y1 * side), int(x0 * side) : int(x1 * side)].reshape(-1, 3).mean(0)
                    for x0, y0, x1, y1 in PATCHES], axis=0)  # fmt: skip


def clip_frames(name: str, every: int, count: int) -> list[np.ndarray]:
    return [frame.copy() for i, frame in enumerate(frames(VIDEOS / name)) if i % every == 0][:count]


def differences(pipe: FaceSwapPipeline, sources: list[str], targets: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """(N, 3) result minus target skin LAB, for every source onto every (name, image) target with a
    face; a source onto its own photo is no swap and is left out."""
    opts = SwapOptions(target_face="largest", expression="target")
    images = {name: load_image(PHOTOS / name) for name in sources}  # read once, not once per target
    out = []
    for target_name, target in targets:
        faces = detect_faces(target)
        if not faces:
            continue
        face = max(faces, key=lambda f: f.size)
        before = skin_lab(target, face.landmarks)
        for name in sources:
            if name == target_name:
                continue
            result = pipe(images[name], target, opts).image
            out.append(skin_lab(result, face.landmarks) - before)
    return np.array(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--weights", default=None, help="weights folder (default: weights/)")
    args = p.parse_args(argv)
    pipe = FaceSwapPipeline.from_pretrained(args.weights)
    print(machine(), "\n")
    sets = {
        "photos (4 sources x 10 targets)": differences(pipe, SOURCES, [(n, load_image(PHOTOS / n)) for n in REALISM_PHOTOS]),
        "photos in coloured or dim light (4 x 3)": differences(pipe, SOURCES, [(n, load_image(PHOTOS / n)) for n in HARD_LIGHT]),
        "video frames (hamilton, singer)": differences(pipe, [VIDEO_SOURCE], [(c[0], f) for c in CLIP_FRAMES for f in clip_frames(*c)]),
    }
    rows = []
    for name, d in sets.items():
        error, bias = np.abs(d).mean(0), d.mean(0)
        # CIE76 colour difference: OpenCV's 8-bit L is L* x 255 / 100, its a and b are a* and b* + 128
        delta_e = np.sqrt((d[:, 0] * 100 / 255) ** 2 + d[:, 1] ** 2 + d[:, 2] ** 2).mean()
        rows.append({"set": name, "pairs": len(d), "abs dL": error[0], "abs da": error[1], "abs db": error[2],
                     "bias L": bias[0], "bias a": bias[1], "bias b": bias[2], "mean dE*": delta_e})  # fmt: skip
    print(table(rows, "Skin tone: result minus target in the face's skin patches (LAB, 0-255)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
