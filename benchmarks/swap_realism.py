"""Swap realism: detail at the photo's resolution, the target's expression in video, pose.

    python -m benchmarks.swap_realism [--skip-photos] [--skip-video] [--skip-pose] [--weights DIR]

Photos, on the 10 large-face photos (REALISM_PHOTOS): a self-swap puts the photo's JPEG q92
re-encode (source) onto the photo itself (target); in the inner face box (the MTCNN box shrunk by
15% on each side) it reports PSNR against the original and the sharpness ratio, the variance of the
Laplacian of the result over that of the original. Both at detail 1 (the default) and detail 0
(the decoder alone, upsampled). And the video's source onto the same photos blurred (out of focus):
the sharpness ratio with the target's focus matched and without (pipelines/focus.py).

Video, on the repo's clips with a still photo as the source: on every 2nd frame, the largest face's
mouth opening (inner lips, height over width) and eye opening (eye aspect ratio, both eyes) by two
instruments: dlib's 68 landmarks, and MediaPipe's mesh with its eye model (pipelines/expression.py,
on the face aligned at 256). The table gives their correlation between input and output frames.
dlib's lids fail on closed eyes (on the singer clip the frames it rates most open are the ones
where the eyes are shut), so its eye figure measures pixel likeness more than eye opening; the mesh
drives the warp, so its figure is not independent either: read both. On every 6th frame, the
output's face is compared with the source's and the input's (dlib descriptors): "closer to source"
counts frames where d(output, source) < d(output, input).

Pose: the three-quarter and profile photos as sources onto frontal targets and the reverse: whether
a warning is given, and how much of the target's inner face box still holds a face (MTCNN finds one).
And how much of the source lands past the target's own face (the silhouette of its face mesh) on
heads turned, lowered or tilted, where an ellipse placed on 5 points reaches past the chin or cheek.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
from PIL import Image

from pipelines import FaceSwapPipeline, SwapOptions
from pipelines.faces import detect_faces
from pipelines.images import load_image
from pipelines.pose import THREE_QUARTER, estimate_pose
from pipelines.video import VideoLimits, VideoSwapPipeline
from training.identity import describe_faces_in_image, dlib_model_dir, dlib_models

from .common import PHOTOS, VIDEOS, machine, table

REALISM_PHOTOS = [
    "man_portrait_flags_720p.jpg", "man_portrait_light_background.jpg", "woman_redhair_wide.jpg",
    "man_laughing_closeup.png", "man_microphone_closeup.png", "man_smiling_vest_wide.jpg", "man_sports_jersey.jpg",
    "man_frontal_closeup_video_still.jpg", "woman_looking_down.jpg", "man_grayscale_portrait.jpg",
]  # fmt: skip
CLIPS = ["stage_speech_hamilton_clip.mp4", "singer_music_video_720p.mp4", "person_waving_frontal_short.mp4"]
VIDEO_SOURCE = "woman_redhair_wide.jpg"
POSE_PAIRS = [
    ("woman_three_quarter_right.png", "woman_redhair_wide.jpg"),
    ("woman_profile_left.jpg", "woman_redhair_wide.jpg"),
    ("woman_profile_left.jpg", "man_portrait_flags_720p.jpg"),
    ("woman_redhair_wide.jpg", "woman_three_quarter_right.png"),
    ("man_portrait_flags_720p.jpg", "woman_profile_left.jpg"),
    ("man_portrait_light_background.jpg", "woman_three_quarter_right.png"),
]
# Heads whose face region (an ellipse on 5 points) reaches past the face, and a frontal one
OUTLINE_PAIRS = POSE_PAIRS[3:4] + [
    ("man_sports_jersey.jpg", "woman_looking_down.jpg"),
    ("man_portrait_flags_720p.jpg", "woman_head_tilted_roll.png"),
    ("man_portrait_flags_720p.jpg", "woman_redhair_wide.jpg"),
]


def inner_box(face) -> tuple[int, int, int, int]:
    """The MTCNN box shrunk by 15% on each side: x0, y0, x1, y1."""
    x1, y1, x2, y2 = face.box
    dx, dy = 0.15 * (x2 - x1), 0.15 * (y2 - y1)
    return int(x1 + dx), int(y1 + dy), int(x2 - dx), int(y2 - dy)


def laplacian_variance(image: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64), cv2.CV_64F).var())


def jpeg(image: np.ndarray, quality: int = 92) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def photo_rows(pipe: FaceSwapPipeline) -> list[dict]:
    rows = []
    for detail in (1.0, 0.0):
        psnrs, ratios, seconds = [], [], []
        for name in REALISM_PHOTOS:
            image = load_image(PHOTOS / name)
            t = time.perf_counter()
            r = pipe(jpeg(image), image, SwapOptions(detail=detail, target_face="largest"))
            seconds.append(time.perf_counter() - t)
            x0, y0, x1, y1 = inner_box(r.target_faces[0])
            a, b = image[y0:y1, x0:x1], r.image[y0:y1, x0:x1]
            mse = ((a.astype(np.float64) - b) ** 2).mean()
            psnrs.append(10 * np.log10(255**2 / max(mse, 1e-10)))
            ratios.append(laplacian_variance(b) / laplacian_variance(a))
        rows.append({
            "detail": detail,
            "self-swap PSNR dB (mean)": float(np.mean(psnrs)),
            "worst photo dB": float(np.min(psnrs)),
            "sharpness ratio (mean)": float(np.mean(ratios)),
            "median swap s": float(np.median(seconds)),
        })  # fmt: skip
    return rows


def focus_rows(pipe: FaceSwapPipeline, blurs: tuple[float, ...] = (0.0, 1.5, 3.0)) -> list[dict]:
    """The video source (a sharp photo) onto the 10 large-face photos blurred by a Gaussian of `blurs`
    pixels (a face out of focus): the sharpness ratio (result over target, inner face box), with the
    target's focus matched (pipelines/focus.py) and without. On the sharp photos it measures how much
    smoother one face's skin is than another's, not blur."""
    source = load_image(PHOTOS / VIDEO_SOURCE)
    rows = []
    for blur in blurs:
        ratios = {True: [], False: []}
        for name in REALISM_PHOTOS:
            image = load_image(PHOTOS / name)
            target = image if blur == 0 else cv2.GaussianBlur(image, (0, 0), blur)
            for focus in (True, False):  # interleaved
                r = pipe(source, target, SwapOptions(target_face="largest", focus=focus))
                x0, y0, x1, y1 = inner_box(r.target_faces[0])
                ratios[focus].append(laplacian_variance(r.image[y0:y1, x0:x1]) / laplacian_variance(target[y0:y1, x0:x1]))
        rows.append({
            "target blurred by (px)": blur,
            "sharpness ratio, focus matched: mean / max": f"{np.mean(ratios[True]):.2f} / {np.max(ratios[True]):.2f}",
            "not matched (--no-focus): mean / max": f"{np.mean(ratios[False]):.2f} / {np.max(ratios[False]):.2f}",
            "photos changed by it": sum(a != b for a, b in zip(ratios[True], ratios[False], strict=True)),
        })  # fmt: skip
    return rows


def _shape68():
    import dlib

    return dlib.shape_predictor(str(dlib_model_dir() / "shape_predictor_68_face_landmarks.dat")), dlib


def openings(image: np.ndarray, face) -> tuple[float, float]:
    """(mouth opening, eye opening) of a face from dlib's 68 landmarks, its box from MTCNN.
    mouth: inner lips height / width (points 60-67); eyes: eye aspect ratio, mean of both eyes."""
    predictor, dlib = _shape68()
    x1, y1, x2, y2 = (int(v) for v in face.box)
    shape = predictor(np.ascontiguousarray(image), dlib.rectangle(x1, y1, x2, y2))
    p = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], np.float64)
    mouth = np.linalg.norm(p[62] - p[66]) / max(np.linalg.norm(p[60] - p[64]), 1e-6)

    def ear(e):  # Soukupova and Cech 2016
        return (np.linalg.norm(e[1] - e[5]) + np.linalg.norm(e[2] - e[4])) / (2 * max(np.linalg.norm(e[0] - e[3]), 1e-6))

    return float(mouth), float((ear(p[36:42]) + ear(p[42:48])) / 2)


def mesh_openings(image: np.ndarray, face, mesh) -> tuple[float, float]:
    """(mouth opening, eye opening) by the dense mesh (pipelines/expression.py) on the face aligned at 256."""
    from pipelines.expression import openings
    from pipelines.faces import align_face

    p = mesh(align_face(image, face.landmarks, 256)[0])
    return (float("nan"), float("nan")) if p is None else openings(p)


def frames(path: Path):
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    for raw in reader:
        yield np.frombuffer(raw, np.uint8).reshape(h, w, 3)


def correlation(a: list[float], b: list[float]) -> float:
    return float(np.corrcoef(a, b)[0, 1]) if len(a) > 2 and np.std(a) > 0 and np.std(b) > 0 else float("nan")


def measure_frames(path: Path, near: list | None = None, every: int = 2, describe_every: int = 6) -> list[dict | None]:
    """Per sampled frame: the largest face's (or the face nearest `near`'s) MTCNN face, mouth and
    eye openings (dlib, and the mesh), and (every describe_every frames) its dlib descriptor; None where no face."""
    from pipelines.landmarks import DenseLandmarks

    mesh = DenseLandmarks()
    out = []
    for i, frame in enumerate(frames(path)):
        if i % every:
            continue
        faces = detect_faces(frame)
        ref = near[len(out)] if near is not None else None
        if not faces or (near is not None and ref is None):
            out.append(None)
            continue
        face = (
            max(faces, key=lambda f: f.size)
            if ref is None
            else min(faces, key=lambda f: np.linalg.norm(f.landmarks.mean(0) - ref["face"].landmarks.mean(0)))
        )
        mouth, eyes = openings(frame, face)
        mesh_mouth, mesh_eyes = mesh_openings(frame, face, mesh)
        desc = describe_faces_in_image(frame, face.landmarks) if i % describe_every == 0 else None
        out.append({"face": face, "mouth": mouth, "eyes": eyes, "mesh mouth": mesh_mouth, "mesh eyes": mesh_eyes, "desc": desc})
    return out


def paired_correlation(pairs: list[tuple[dict, dict]], key: str) -> float:
    """Correlation of one measure between input and output frames, over the frames where both have it."""
    both = [(a[key], b[key]) for a, b in pairs if np.isfinite(a[key]) and np.isfinite(b[key])]
    return correlation([a for a, _ in both], [b for _, b in both])


def correlation_interval(pairs: list[tuple[dict, dict]], key: str, rounds: int = 2000, seed: int = 0) -> tuple[float, float]:
    """The 95% interval of paired_correlation, resampling the frames (bootstrap). On the hamilton clip a
    handful of frames where the mouth opens wide carry most of the figure: 0.71 by the mesh, 0.53-0.81."""
    both = np.array([(a[key], b[key]) for a, b in pairs if np.isfinite(a[key]) and np.isfinite(b[key])])
    if len(both) < 3:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = [np.corrcoef(both[pick].T)[0, 1] for pick in (rng.integers(0, len(both), len(both)) for _ in range(rounds))]
    low, high = np.nanpercentile(draws, [2.5, 97.5])
    return float(low), float(high)


def video_rows(video: VideoSwapPipeline, clips: list[str] = CLIPS, variants: dict | None = None, every: int = 2,
               describe_every: int = 6) -> list[dict]:  # fmt: skip
    """One row per clip and setting; "input re-encoded" (strength 0) is the ceiling the measurement
    itself allows (dlib's landmarks on small, compressed faces are noisy). every / describe_every:
    the openings measured on every n-th frame, the identity on every m-th (measure_frames)."""
    variants = variants or {
        "input re-encoded (strength 0)": SwapOptions(strength=0.0),
        "expression=target (eyes and mouth; video default)": SwapOptions(expression="target"),
        "expression=mouth": SwapOptions(expression="mouth"),
        "expression=source": SwapOptions(expression="source"),
    }
    rows = []
    source = load_image(PHOTOS / VIDEO_SOURCE)
    source_desc = describe_faces_in_image(source, max(detect_faces(source), key=lambda f: f.size).landmarks)
    dlib_models()
    for clip in clips:
        inputs = measure_frames(VIDEOS / clip, every=every, describe_every=describe_every)
        for name, opts in variants.items():
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "out.mp4"
                r = video(source, VIDEOS / clip, out, opts)
                outputs = measure_frames(out, near=inputs, every=every, describe_every=describe_every)
            pairs = [(a, b) for a, b in zip(inputs, outputs, strict=False) if a is not None and b is not None]
            described = [(a, b) for a, b in pairs if a["desc"] is not None and b["desc"] is not None]
            closer = [np.linalg.norm(b["desc"] - source_desc) < np.linalg.norm(b["desc"] - a["desc"]) for a, b in described]
            # the actor's pose in the input: a frontal source on a turned face is a swap the pipeline warns about
            turned = [abs(estimate_pose(a["face"].landmarks).yaw) > THREE_QUARTER for a, _ in described]
            rows.append({
                "clip": clip,
                "setting": name,
                "fps": r.frames / r.seconds,
                "mouth corr dlib / mesh": "{:.2f} / {:.2f}".format(*(paired_correlation(pairs, k) for k in ("mouth", "mesh mouth"))),
                "eyes corr dlib / mesh": "{:.2f} / {:.2f}".format(*(paired_correlation(pairs, k) for k in ("eyes", "mesh eyes"))),
                "mesh mouth / eyes, 95% interval": "{:.2f}-{:.2f} / {:.2f}-{:.2f}".format(
                    *(v for k in ("mesh mouth", "mesh eyes") for v in correlation_interval(pairs, k))),
                "mouth in / out (mean)": f"{np.mean([a['mouth'] for a, _ in pairs]):.2f} / {np.mean([b['mouth'] for _, b in pairs]):.2f}",
                "closer to source": f"{np.mean(closer) * 100:.0f}% of {len(closer)}",
                "of them frontal / turned": " / ".join(
                    f"{np.mean(c) * 100:.0f}% of {len(c)}" if c else "-"
                    for c in ([c for c, t in zip(closer, turned, strict=True) if t == want] for want in (False, True))
                ),
            })  # fmt: skip
    return rows


def pose_rows(pipe: FaceSwapPipeline) -> list[dict]:
    rows = []
    for source, target in POSE_PAIRS:
        r = pipe(PHOTOS / source, PHOTOS / target, SwapOptions(target_face="largest"))
        face = r.target_faces[0]
        found = detect_faces(r.image, min_size=0.5 * face.size)
        # the result's face where the target's was; its nose against the target's (a second nose shows as a gap)
        near = min(found, key=lambda f: np.linalg.norm(f.landmarks - face.landmarks, axis=1).mean(), default=None)
        nose_off = np.nan if near is None else float(np.linalg.norm(near.landmarks[2] - face.landmarks[2]) / face.size)
        # the source as encoded against the target, by the face mesh in the aligned crops (pipelines/turn.py)
        target_mesh, posed_mesh = (pipe.landmarks.face_mesh(crop) for crop in (r.target_crops[0], r.posed_crops[0]))
        encoded_off = np.nan if target_mesh is None or posed_mesh is None else float(np.linalg.norm(posed_mesh[1] - target_mesh[1]))
        rows.append({
            "source": source,
            "target": target,
            "warning": "yes" if r.warnings else "no",
            "face found in result": "yes" if found else "no",
            "nose off the target's / face size": nose_off,
            "encoded source's nose off the target's / crop side": encoded_off,
        })  # fmt: skip
    return rows


def change_past_the_face(pipe: FaceSwapPipeline, result, target: np.ndarray, band: int = 20) -> tuple[float, int]:
    """How much the swap changed the target beyond its own face: the silhouette of the face mesh
    (run here on the target's face aligned at 192) -> (mean change in the `band` px past it, max change
    anywhere past it), in levels (max over RGB)."""
    from pipelines.faces import align_face, invert_matrix, transform_points
    from pipelines.landmarks import FACE_OVAL

    crop, matrix = align_face(target, result.target_faces[0].landmarks, 192)
    silhouette = transform_points(pipe.landmarks.face_mesh(crop)[FACE_OVAL] * 192, invert_matrix(matrix))
    inside = cv2.fillPoly(np.zeros(target.shape[:2], np.uint8), [np.round(silhouette).astype(np.int32)], 1)
    near = (cv2.dilate(inside, np.ones((2 * band + 1, 2 * band + 1), np.uint8)) > 0) & (inside == 0)
    change = np.abs(result.image.astype(int) - target.astype(int)).max(axis=2)
    return float(change[near].mean()), int(change[inside == 0].max())


def outline_rows(pipe: FaceSwapPipeline) -> list[dict]:
    rows = []
    for source, target in OUTLINE_PAIRS:
        image = load_image(PHOTOS / target)
        mean, most = change_past_the_face(pipe, pipe(PHOTOS / source, image, SwapOptions(target_face="largest")), image)
        rows.append({"source": source, "target": target, "mean change 20 px past the face": mean, "max change past it": most})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--skip-photos", action="store_true")
    p.add_argument("--skip-video", action="store_true")
    p.add_argument("--skip-pose", action="store_true")
    p.add_argument("--weights", default=None, help="weights folder (default: weights/)")
    p.add_argument("--clips", default=",".join(CLIPS), help="comma-separated clip names from ../shared/data/videos")
    p.add_argument("--video-every", default="2,6", help="openings on every n-th frame, identity on every m-th: n,m "
                   "(1,2 reads three times the frames: the small-face clips' figures move less with invisible changes)")  # fmt: skip
    args = p.parse_args(argv)
    pipe = FaceSwapPipeline.from_pretrained(args.weights)
    print(f"{machine()}; VQGAN {pipe.size}x{pipe.size}\n")
    if not args.skip_photos:
        print(table(photo_rows(pipe), f"Self-swap on {len(REALISM_PHOTOS)} large-face photos (inner face box, photo resolution)"))
        print()
        print(table(focus_rows(pipe), f"{VIDEO_SOURCE} onto the same photos, blurred: the target's focus"))
        print()
    if not args.skip_video:
        video = VideoSwapPipeline(pipe, limits=VideoLimits(max_seconds=600, max_frames=20000))
        n, m = (int(x) for x in args.video_every.split(","))
        rows = video_rows(video, args.clips.split(","), every=n, describe_every=m)
        print(table(rows, f"Video: expression kept, source {VIDEO_SOURCE}; openings on every {n}th frame, identity every {m}th"))
        print()
    if not args.skip_pose:
        print(table(pose_rows(pipe), "Pose: turned sources and targets"))
        print()
        print(table(outline_rows(pipe), "Past the target's face (its face mesh's silhouette), levels of 255"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
