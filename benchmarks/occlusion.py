"""What covers a target's face, hands and face masks: does the swap keep it, at what cost, and is it
ever found where there is none?

    python -m benchmarks.occlusion [--skip-video]

- The hamilton clip (a speaker who gestures and holds a microphone at his mouth), swapped with the
  hands kept (the default) and without: in every frame where the hand models, run on the input
  frame (palm search on every frame), find a hand inside the swapped face region, the hand's pixels
  there: their mean change from the input and the share changed by more than 24 levels (x264 alone
  moves a pixel by a few). Hands missed by the models on the input are not counted either way.
- The cost: ms a frame for the video (the `hands` stage, palm search every 4th frame of a face) and
  ms a face for a photo.
- False hands: on the 39 test photos, faces where a hand is found, and faces whose face region a
  found hand covers by more than 1% (a palm detector firing on a face would keep the target's face).
- A hand in front of the *source's* face (frames of the clip as sources): the share of its pixels
  pasted onto the target, with the hands kept out (the default) and without.
- Face masks (pipelines/covered.py): the mouth box's flatness on every face of the test photos and
  of every 2nd frame of the test clips (a mask far below FLAT, bare faces far above it), the faces
  found covered, and the masked test photo swapped: the change on its mask and in its eyes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import imageio.v3 as iio
import numpy as np

from pipelines import FaceSwapPipeline
from pipelines.blend import region_mask
from pipelines.covered import FLAT, covering_mask, mouth_flatness
from pipelines.faces import align_face, detect_faces
from pipelines.hands import HandFinder, hand_mask
from pipelines.images import load_image
from pipelines.swap import SwapOptions, crop_landmarks
from pipelines.video import VideoSwapPipeline

from .common import PHOTOS, VIDEOS, machine, table

CLIP = VIDEOS / "stage_speech_hamilton_clip.mp4"
SOURCE = PHOTOS / "woman_redhair_wide.jpg"
SIDE = 256  # faces are compared aligned at this side
CHANGED = 24  # levels (largest of the three channels): a pixel painted over, not re-encoded


def hands_in_front(frames: list[np.ndarray], finder: HandFinder) -> list[tuple[int, np.ndarray, np.ndarray] | None]:
    """Per frame: (frame index, the largest face's image -> SIDE crop matrix, (SIDE, SIDE) bool: hand
    pixels inside its face region), or None where no hand is in front of the face."""
    found = []
    for i, frame in enumerate(frames):
        faces = detect_faces(frame)
        if not faces:
            found.append(None)
            continue
        face = max(faces, key=lambda f: f.size)
        _, matrix = align_face(frame, face.landmarks, SIDE)
        hands = finder(frame, matrix, SIDE)
        region = region_mask(("face",), SIDE, crop_landmarks(face.landmarks, matrix, SIDE)) > 0.5
        inside = (hand_mask(hands, matrix, SIDE) > 0.5) & region if hands else None
        inside = None if inside is None else cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # off the edges
        found.append((i, matrix, inside) if inside is not None and inside.sum() >= 20 else None)
    return found


def painted(frames_in: list[np.ndarray], frames_out: list[np.ndarray], found) -> tuple[float, float, int]:
    """(mean change in levels, share of pixels changed by > CHANGED, frames with more than a tenth of
    their hand pixels changed so) over the hand pixels of `found`."""
    changes = []
    for entry in found:
        if entry is None:
            continue
        i, matrix, inside = entry
        a = cv2.warpAffine(frames_in[i], matrix, (SIDE, SIDE), flags=cv2.INTER_LINEAR).astype(np.int16)
        b = cv2.warpAffine(frames_out[i], matrix, (SIDE, SIDE), flags=cv2.INTER_LINEAR).astype(np.int16)
        changes.append(np.abs(a - b).max(-1)[inside])
    change = np.concatenate(changes)
    frames = sum(int((c > CHANGED).mean() > 0.1) for c in changes)
    return float(change.mean()), float((change > CHANGED).mean()), frames


def false_hands(finder: HandFinder) -> dict:
    """Over the 39 test photos' faces: how many have a hand found, how many have their face region covered."""
    faces = with_hand = covering = 0
    ms = []
    for path in sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in (".jpg", ".png")):
        image = load_image(path)
        for face in detect_faces(image):
            _, matrix = align_face(image, face.landmarks, SIDE)
            start = time.perf_counter()
            hands = finder(image, matrix, SIDE)
            ms.append((time.perf_counter() - start) * 1000)
            faces += 1
            if hands:
                with_hand += 1
                region = region_mask(("face",), SIDE, crop_landmarks(face.landmarks, matrix, SIDE))
                covering += int((hand_mask(hands, matrix, SIDE) * region).sum() > 0.01 * region.sum())
    return {"faces": faces, "with_hand": with_hand, "covering": covering, "ms": float(np.median(ms))}


HELD_FRAMES = (132, 160, 216)  # the speaker's fist round the microphone at his mouth; fingers at it; a fist under it
HELD_TARGETS = ("man_portrait_flags_720p.jpg", "man_portrait_light_background.jpg", "woman_redhair_wide.jpg")  # frontal


def source_hands(pipe: FaceSwapPipeline) -> str:
    """Frames of the hamilton clip with a hand in front of the speaker's face as sources, onto frontal
    photos (aligned crops share the template, so the source's hand falls on the same cells of the
    target's crop): the share of its pixels inside the target's face region pasted (blend weight > 0.5)."""
    frames = [frame for i, frame in enumerate(iio.imiter(CLIP)) if i in HELD_FRAMES]
    rows = []
    for index, frame in zip(HELD_FRAMES, frames, strict=True):
        held = pipe.choose_source(frame, SwapOptions()).hands  # (S, S) in the source's aligned crop, None: no hand
        for name in HELD_TARGETS:
            image = load_image(PHOTOS / name)
            face = max(detect_faces(image), key=lambda f: f.size)
            _, matrix = align_face(image, face.landmarks, pipe.size)
            region = region_mask(("face",), pipe.size, crop_landmarks(face.landmarks, matrix, pipe.size)) > 0.5
            inside = region & (held > 0.5) if held is not None else np.zeros_like(region)
            row = {"source frame": index, "target": name, "its hand pixels in the region": int(inside.sum())}
            for keep in (False, True):
                mask = pipe(frame, image, SwapOptions(hands=keep, target_face="largest")).mask
                share = f"{(mask[inside] > 0.5).mean() * 100:.0f}%" if inside.any() else "-"
                row["pasted, hands kept out" if keep else "pasted, hands ignored"] = share
            rows.append(row)
    return table(rows, f"A hand in front of the source's face ({CLIP.name} frames as sources)")


MASKED = PHOTOS / "woman_wearing_face_mask.jpg"


def face_masks(pipe: FaceSwapPipeline) -> str:
    """The flatness of every test face's mouth, the faces found covered, and the masked photo swapped."""
    flatness, covered = [], []
    images = [(p.name, load_image(p)) for p in sorted(PHOTOS.iterdir()) if p.suffix.lower() in (".jpg", ".png")]
    for clip in sorted(VIDEOS.glob("*.mp4")):
        images += [(f"{clip.name}:{i}", frame) for i, frame in enumerate(iio.imiter(clip)) if i % 2 == 0]
    for name, image in images:
        for face in detect_faces(image):
            crop, matrix = align_face(image, face.landmarks, 128)
            shape = crop_landmarks(face.landmarks, matrix, 128)
            flatness.append((mouth_flatness(crop, shape), name))
            if covering_mask(crop, shape).any():
                covered.append(name)
    flatness.sort()
    image = load_image(MASKED)
    face = max(detect_faces(image), key=lambda f: f.size)
    crop, matrix = align_face(image, face.landmarks, 128)
    shape = crop_landmarks(face.landmarks, matrix, 128)
    out = pipe(SOURCE, image).image
    before, after = (cv2.warpAffine(x, matrix, (128, 128), flags=cv2.INTER_AREA).astype(np.int16) for x in (image, out))
    change = np.abs(before - after).max(-1)
    on_mask = cv2.erode(covering_mask(crop, shape).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    eyes = region_mask(("eyes",), 128, shape) > 0.5
    return (
        f"Face masks: {len(flatness)} faces (test photos, every 2nd frame of the clips); mouth flatness lowest "
        + ", ".join(f"{v:.2f} ({n})" for v, n in flatness[:3])
        + f"; FLAT = {FLAT}; found covered: {', '.join(covered) or 'none'}.\n"
        f"{MASKED.name} swapped ({SOURCE.name} as the source): mean change on the mask {change[on_mask].mean():.1f} levels, "
        f"in the eyes {change[eyes].mean():.1f}"
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--skip-video", action="store_true", help="only the photos: false hands and face masks")
    args = p.parse_args(argv)
    finder = HandFinder()
    pipe = FaceSwapPipeline.from_pretrained()  # the models loaded once for every part
    if not args.skip_video:
        print(hands_on_video(finder, pipe))
    f = false_hands(finder)
    print(f"\nTest photos: {f['faces']} faces, a hand found beside {f['with_hand']}, over more than 1% of the face region of "
          f"{f['covering']}; {f['ms']:.1f} ms a face (median, one thread)")  # fmt: skip
    print(f"\n{source_hands(pipe)}")
    print(f"\n{face_masks(pipe)}")
    print(f"\n{machine()}")
    return 0


def hands_on_video(finder: HandFinder, swapper: FaceSwapPipeline) -> str:
    """The hamilton clip swapped with and without the hands kept: the hand pixels painted over."""
    frames = list(iio.imiter(CLIP))
    found = hands_in_front(frames, finder)
    pipe = VideoSwapPipeline(swapper)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for hands in (False, True):
            out = Path(tmp) / f"hands_{hands}.mp4"
            result = pipe(SOURCE, CLIP, out, SwapOptions(expression="target", hands=hands))
            mean, share, bad = painted(frames, list(iio.imiter(out)), found)
            rows.append({
                "hands kept": "yes" if hands else "no",
                "hand pixels: mean change (levels)": mean,
                f"changed > {CHANGED} levels": f"{share * 100:.1f}%",
                "frames with > 10% of it so": bad,
                "hands ms / frame": result.timings.get("hands", 0.0) / result.frames * 1000,
                "fps": result.frames / result.seconds,
            })  # fmt: skip
    n = sum(entry is not None for entry in found)
    return table(rows, f"Hands in front of the face, {CLIP.name}: {n} of {len(frames)} frames")


if __name__ == "__main__":
    raise SystemExit(main())
