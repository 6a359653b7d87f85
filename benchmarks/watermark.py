"""Does the watermark survive a re-upload, stay invisible, cost little, and stay silent on real pictures?

    python -m benchmarks.watermark [--quick]

- Swapped photos (ordered pairs of the 10 large-face photos): found after nothing, JPEG quality 75,
  half size, a 10% crop (5% off each side), and all three at once.
- Prior samples (128x128): found in each face of a sample grid, as PNG and after JPEG 75.
- Swapped videos (the 3 clips, faces of 50-530 px) as written and re-encoded with H.264 (CRF 23, 28,
  CRF 23 at half size): found in 24 sampled frames with a face. And what the mark changes in their
  frames before the encoder (its strength follows the face's size, watermark.video_strength).
- False positives: real photos, CelebA faces and real video frames we did not make (>= 200).
- Cost: the mark's ms per face, a photo swap with and without it (interleaved), the C2PA signature
  on a 1 MP PNG and JPEG, the 720p video's frame rate with and without it (interleaved).
- Visibility: PSNR of the marked against the unmarked swap, whole picture and inside the face box.
"""

from __future__ import annotations

import argparse
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from .common import PHOTOS, SHARED_DATA, VIDEOS, machine, table

LARGE_FACES = [
    "man_portrait_flags_720p.jpg", "man_portrait_light_background.jpg", "woman_redhair_wide.jpg", "man_laughing_closeup.png",
    "man_microphone_closeup.png", "man_smiling_vest_wide.jpg", "man_sports_jersey.jpg", "man_frontal_closeup_video_still.jpg",
    "woman_looking_down.jpg", "man_grayscale_portrait.jpg",
]  # fmt: skip


def jpeg(image: np.ndarray, quality: int = 75) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]


def half(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)


def crop10(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    return image[h // 20 : h - h // 20, w // 20 : w - w // 20]


REENCODES = {  # ffmpeg arguments of each re-encode (None: the file as we wrote it)
    "as written (CRF 20)": None,
    "H.264 CRF 23 (ffmpeg's default)": ["-crf", "23"],
    "H.264 CRF 28": ["-crf", "28"],
    "H.264 CRF 23, half size": ["-crf", "23", "-vf", "scale=iw/2:-2"],
}
TRANSFORMS = {"none": lambda x: x, "jpeg75": jpeg, "half": half, "crop10": crop10, "all three": lambda x: jpeg(half(crop10(x)))}


def found_in(image: np.ndarray) -> tuple[bool, float]:
    """Whether any face in the picture carries the mark, and the best score."""
    from pipelines.provenance import read_marks

    marks = read_marks(image)
    return any(m.found for m in marks), max((m.score for m in marks), default=float("nan"))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b) ** 2).mean())
    return 10 * np.log10(255**2 / max(mse, 1e-10))


def swapped_photos(pairs: list[tuple[str, str]]):
    """Marked and unmarked swaps of each pair, with the face box of the target."""
    from pipelines import FaceSwapPipeline, SwapOptions

    marked = FaceSwapPipeline.from_pretrained()
    plain = FaceSwapPipeline(marked.vqgan, marked.transformer, marked.detector, mark=False)
    for a, b in pairs:
        r = marked(PHOTOS / a, PHOTOS / b, SwapOptions())
        yield a, b, r.image, plain(PHOTOS / a, PHOTOS / b, SwapOptions()).image, r.target_faces[0].box


def photo_rows(pairs) -> tuple[list[dict], list[dict]]:
    rates = {k: [] for k in TRANSFORMS}
    scores = {k: [] for k in TRANSFORMS}
    whole, inside = [], []
    for _, _, image, plain, box in swapped_photos(pairs):
        for name, transform in TRANSFORMS.items():
            hit, score = found_in(transform(image))
            rates[name].append(hit)
            scores[name].append(score)
        whole.append(psnr(image, plain))
        x0, y0, x1, y1 = box.astype(int)
        inside.append(psnr(image[y0:y1, x0:x1], plain[y0:y1, x0:x1]))
    detection = [
        {"transformation": k, "found": f"{sum(v)}/{len(v)}", "rate": float(np.mean(v)), "median score": float(np.nanmedian(scores[k])),
         "lowest score": float(np.nanmin(scores[k]))}
        for k, v in rates.items()
    ]  # fmt: skip
    visibility = [
        {"PSNR marked vs unmarked": where, "mean dB": float(np.mean(values)), "lowest dB": float(np.min(values))}
        for where, values in (("whole picture", whole), ("face box", inside))
    ]
    return detection, visibility


def sample_rows(n: int) -> list[dict]:
    from pipelines.provenance import read_marks
    from pipelines.sampling import SamplingPipeline
    from pipelines.visualize import grid

    images = SamplingPipeline.from_pretrained().sample("vqgan", n=n, seed=0)
    sheet = grid(images, columns=8)
    rows = []
    for name, transform in (("png", lambda x: x), ("jpeg75", jpeg), ("half", half)):
        marks = read_marks(transform(sheet))
        rows.append({"sample grid": name, "faces detected": f"{len(marks)}/{n}", "marked": sum(m.found for m in marks),
                     "rate (of detected)": float(np.mean([m.found for m in marks])) if marks else 0.0})  # fmt: skip
    return rows


CLIPS = ["singer_music_video_720p.mp4", "person_waving_frontal_short.mp4", "stage_speech_hamilton_clip.mp4"]


def video_rows(quick: bool) -> list[dict]:
    """Each clip swapped (the faces' native sizes differ: the mark's strength follows them,
    watermark.video_strength), written, re-encoded, and 24 frames read."""
    import imageio_ffmpeg

    from pipelines import VideoSwapPipeline
    from pipelines.provenance import read_marks, video_frames

    pipe = VideoSwapPipeline.from_pretrained()
    rows = []
    for clip in [VIDEOS / c for c in (CLIPS[1:2] if quick else CLIPS)]:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "swapped.mp4"
            pipe(PHOTOS / "man_portrait_light_background.jpg", clip, out)
            ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
            for name, args in REENCODES.items():
                path = out
                if args:
                    path = Path(tmp) / "reencoded.mp4"
                    reencode = [ffmpeg, "-y", "-loglevel", "error", "-i", str(out), "-c:v", "libx264", "-preset", "veryfast", *args, "-an"]
                    subprocess.run([*reencode, str(path)], check=True)
                per_frame = [read_marks(f) for f in video_frames(path, 24)]
                with_face = [max(m, key=lambda x: x.score) for m in per_frame if m]
                scores = [m.score for m in with_face]
                rows.append(
                    {
                        "video": f"{clip.name}, {name}",
                        "frames with a face": len(with_face),
                        "marked": sum(m.found for m in with_face),
                        "rate": float(np.mean([m.found for m in with_face])) if with_face else 0.0,
                        "lowest / median score": f"{min(scores, default=np.nan):.1f} / {np.median(scores):.1f}",
                    }
                )
    return rows


class FrameList:
    """A writer for VideoSwapPipeline.swap_frames that keeps the frames, before any encoder."""

    def __init__(self):
        self.frames = []

    def send(self, frame: np.ndarray) -> None:
        self.frames.append(frame)


def video_visibility_rows(quick: bool) -> list[dict]:
    """The same clip swapped with and without the mark, frames compared before the encoder in the
    pixels the swap changed: what the mark adds to a video's faces, at each face size's strength."""
    import imageio_ffmpeg

    from pipelines import FaceSwapPipeline, SwapOptions, VideoSwapPipeline, watermark
    from pipelines.faces import alignment_matrix, detect_faces, native_crop_side
    from pipelines.video import TrackChooser, VideoJob, VideoLimits, probe

    marked = FaceSwapPipeline.from_pretrained()
    plain = FaceSwapPipeline(marked.vqgan, marked.transformer, marked.detector, mark=False)
    opts = SwapOptions(expression="target")
    rows = []
    for clip in [VIDEOS / c for c in (CLIPS[1:2] if quick else CLIPS)]:
        out = {}
        for name, swapper in (("marked", marked), ("plain", plain)):
            pipe, sink = VideoSwapPipeline(swapper), FrameList()
            source = swapper.choose_source(swapper.load(PHOTOS / "man_portrait_light_background.jpg", "source"), opts)
            job = VideoJob(0, 0, 1)
            pipe.swap_frames(clip, probe(clip, VideoLimits()), sink, source, opts, TrackChooser("all"), job, 3, 8, True, None, None)
            out[name] = sink.frames
        psnr, strengths = [], []
        reader = imageio_ffmpeg.read_frames(str(clip))
        w, h = next(reader)["size"]
        for raw, a, b in zip(reader, out["marked"], out["plain"], strict=False):
            frame = np.frombuffer(raw, np.uint8).reshape(h, w, 3)
            changed = np.any(b != frame, axis=2)  # the swapped faces, without the mark
            if changed.sum() < 100:
                continue
            psnr.append(10 * np.log10(255**2 / max(((a[changed].astype(float) - b[changed]) ** 2).mean(), 1e-10)))
            faces = detect_faces(frame, marked.detector)
            if faces:
                largest = max(faces, key=lambda f: f.size)
                strengths.append(watermark.video_strength(native_crop_side(alignment_matrix(largest.landmarks, marked.size), marked.size)))
        rows.append(
            {
                "clip": clip.name,
                "frames": len(psnr),
                "strength (largest face, median)": np.median(strengths) if strengths else np.nan,
                "PSNR marked vs unmarked in the changed pixels, mean / worst frame": f"{np.mean(psnr):.1f} / {np.min(psnr):.1f} dB",
            }
        )
    return rows


def real_images(limit_celeba: int) -> list[tuple[str, np.ndarray]]:
    """Pictures we did not make: every test photo, CelebA photos from the first shard, real video frames."""
    from pipelines.images import ImageError, load_image
    from pipelines.provenance import video_frames

    out = []
    for path in sorted(PHOTOS.iterdir()):
        try:
            out.append((path.name, load_image(path)))
        except ImageError:
            continue
    shard = sorted((SHARED_DATA / "faces").glob("*.tar"))[0]
    with tarfile.open(shard) as tar:
        for member in tar:
            if len([n for n, _ in out if n.startswith("celeba")]) >= limit_celeba:
                break
            if member.isfile() and member.name.lower().endswith((".jpg", ".png")):
                data = np.frombuffer(tar.extractfile(member).read(), np.uint8)
                image = cv2.imdecode(data, cv2.IMREAD_COLOR)
                if image is not None:
                    out.append((f"celeba/{Path(member.name).name}", image[..., ::-1].copy()))
    for clip in sorted(VIDEOS.glob("*.mp4")):
        out += [(f"{clip.name}#{i}", f) for i, f in enumerate(video_frames(clip, 20))]
    return out


def false_positive_rows(limit_celeba: int) -> list[dict]:
    from pipelines.provenance import read_marks

    rows, scores, hits, faces = [], [], [], 0
    images = real_images(limit_celeba)
    for name, image in images:
        marks = read_marks(image)
        faces += len(marks)
        scores += [m.score for m in marks]
        if any(m.found for m in marks):
            hits.append(name)
    rows.append({"real pictures": len(images), "faces read": faces, "found (false positives)": len(hits),
                 "highest score": float(max(scores)), "99th percentile": float(np.percentile(scores, 99))})  # fmt: skip
    if hits:
        print("false positives:", ", ".join(hits))
    return rows


def cost_rows(quick: bool) -> list[dict]:
    from pipelines import FaceSwapPipeline, SwapOptions, VideoSwapPipeline, watermark
    from pipelines.credentials import Made, sign_in_place

    rows = []
    face = np.full((320, 320, 3), 128, np.uint8)
    watermark.embed(face)
    t = time.perf_counter()
    for _ in range(50):
        watermark.embed(face)
    rows.append({"what": "mark one 320x320 face (in the blend)", "ms": (time.perf_counter() - t) / 50 * 1000})

    marked = FaceSwapPipeline.from_pretrained()
    plain = FaceSwapPipeline(marked.vqgan, marked.transformer, marked.detector, mark=False)
    a, b = PHOTOS / "man_portrait_flags_720p.jpg", PHOTOS / "woman_redhair_wide.jpg"
    times = {"marked": [], "unmarked": []}
    for _ in range(2 if quick else 6):  # interleaved: the VM's speed drifts
        for name, pipe in (("marked", marked), ("unmarked", plain)):
            t = time.perf_counter()
            pipe(a, b, SwapOptions())
            times[name].append(time.perf_counter() - t)
    rows.append({"what": "photo swap, median, marked - unmarked", "ms": (np.median(times["marked"]) - np.median(times["unmarked"])) * 1000})

    from pipelines.images import save_image_atomic

    image = marked(a, b, SwapOptions()).image
    with tempfile.TemporaryDirectory() as tmp:
        for suffix, mime in ((".png", "image/png"), (".jpg", "image/jpeg")):
            path = Path(tmp) / f"out{suffix}"
            save_image_atomic(image, path)
            sign_in_place(path, mime, Made("face swap", ("vqgan",), 1))  # first use makes the development key
            save_image_atomic(image, path)
            t = time.perf_counter()
            sign_in_place(path, mime, Made("face swap", ("vqgan",), 1))
            what = f"C2PA signature, {image.shape[1]}x{image.shape[0]} {suffix[1:].upper()} ({path.stat().st_size // 1024} kB)"
            rows.append({"what": what, "ms": (time.perf_counter() - t) * 1000})

        clip = VIDEOS / ("person_waving_frontal_short.mp4" if quick else "singer_music_video_720p.mp4")
        video = {"marked": VideoSwapPipeline(marked), "unmarked": VideoSwapPipeline(plain)}
        fps = {"marked": [], "unmarked": []}
        for _ in range(1 if quick else 2):
            for name, pipe in video.items():
                r = pipe(PHOTOS / "man_portrait_light_background.jpg", clip, Path(tmp) / "v.mp4")
                fps[name].append(r.frames / r.seconds)
        loss = 1 - np.median(fps["marked"]) / np.median(fps["unmarked"])
        marked_fps, plain_fps = np.median(fps["marked"]), np.median(fps["unmarked"])
        rows.append(
            {
                "what": f"video {clip.name}: fps marked {marked_fps:.1f} vs unmarked {plain_fps:.1f}: loss in % (not ms)",
                "ms": float(loss * 100),
            }
        )
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer pairs, the short clip, fewer real pictures")
    args = p.parse_args(argv)
    n = len(LARGE_FACES)
    pairs = [(LARGE_FACES[i], LARGE_FACES[(i + k) % n]) for k in ((1,) if args.quick else (1, 3, 7)) for i in range(n)]
    print(f"Watermark benchmark, {machine()}\n")
    detection, visibility = photo_rows(pairs)
    print(table(detection, f"Swapped photos ({len(pairs)} ordered pairs of the large-face photos): watermark found"))
    print()
    print(table(visibility, "Visibility"))
    print()
    print(table(sample_rows(16), "16 prior samples in one grid"))
    print()
    print(table(video_rows(args.quick), "Swapped video: frames where the watermark is found"))
    print()
    print(table(video_visibility_rows(args.quick), "Swapped video: what the mark changes, before the encoder"))
    print()
    print(table(false_positive_rows(40 if args.quick else 120), "Pictures we did not make"))
    print()
    print(table(cost_rows(args.quick), "Cost"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
