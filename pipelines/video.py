"""Video face swap: the photo swap applied to every frame, streamed, with the audio kept.

    python -m pipelines.video SOURCE VIDEO -o OUT.mp4 [--regions ...] [--target-face all|N|largest]

Frames stream from ffmpeg (imageio-ffmpeg's binary) through the face tracker and the VQGAN in
batches and back into an H.264 (yuv420p) MP4 with the input's frame rate, size and audio; memory
does not grow with the video's length. The output is written to a temporary file beside OUT and
renamed when complete, so a failure or a cancel leaves nothing behind.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import torch

from models import WeightsError

from . import watermark
from .credentials import Made, sign_in_place
from .faces import align_face
from .images import ImageError
from .precision import fast_inference
from .provenance import labels
from .swap import (
    FaceSwapPipeline,
    NoFaceError,
    SwapOptions,
    add_swap_arguments,
    align_at_detail,
    crop_landmarks,
    input_label,
    options_from_args,
    pick_faces,
    to_tensor,
)
from .tracking import FaceTracker, ShotSmoother


class VideoError(ValueError):
    """A video that cannot be read or is over the limits; the message names it."""


class Cancelled(RuntimeError):
    """The caller's cancel event was set; no output was written."""


@dataclass
class VideoLimits:
    max_seconds: float = 120.0
    max_frames: int = 3600
    max_pixels: int = 1920 * 1080  # per frame


@dataclass
class VideoResult:
    path: Path
    frames: int
    frames_with_faces: int
    fps: float
    size: tuple[int, int]  # (W, H)
    has_audio: bool
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, summed over frames
    declared_frames: int = 0  # duration x frame rate from the file's header
    warnings: list[str] = field(default_factory=list)  # pose warnings met on any frame

    @property
    def note(self) -> str:
        """Warnings worth showing with the result, or ''."""
        notes = list(self.warnings)
        if self.frames < 0.9 * self.declared_frames - 2:  # ffmpeg stops quietly at damage: say so
            notes.append(f"only {self.frames} of the about {self.declared_frames} frames the file declares could be decoded; "
                         "it may be truncated or damaged, so the result is shorter")  # fmt: skip
        return "; ".join(notes)


def probe(path: Path, limits: VideoLimits) -> dict:
    """ffmpeg's metadata for a video, checked against the limits."""
    if not path.is_file():
        raise VideoError(f"{path.name}: file not found")
    try:
        reader = imageio_ffmpeg.read_frames(str(path))
        meta = next(reader)
        reader.close()
    except (RuntimeError, OSError, StopIteration) as e:
        log = str(e)
        if "Stream #" in log and "Video:" not in log:  # ffmpeg read the file and listed only audio/data streams
            raise VideoError(f"{path.name}: no video stream (the file holds only audio or data), so no frames to swap") from None
        raise VideoError(
            f"{path.name}: not a readable video ({str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__})"
        ) from None
    w, h = meta["size"]
    fps = float(meta.get("fps") or 0)
    duration = float(meta.get("duration") or 0)
    if w * h == 0 or fps <= 0:
        raise VideoError(f"{path.name}: no video stream")
    if w * h > limits.max_pixels:
        raise VideoError(f"{path.name}: {w}x{h} frames are over the limit of {limits.max_pixels / 1e6:.1f} megapixels")
    if duration > limits.max_seconds:
        raise VideoError(f"{path.name}: {duration:.1f} s long, over the limit of {limits.max_seconds:.0f} s")
    if duration * fps > limits.max_frames * 1.01:
        raise VideoError(f"{path.name}: about {duration * fps:.0f} frames, over the limit of {limits.max_frames}")
    return meta


class VideoSwapPipeline:
    def __init__(self, swapper: FaceSwapPipeline, limits: VideoLimits | None = None):
        self.swapper = swapper
        self.limits = limits or VideoLimits()

    @classmethod
    def from_pretrained(cls, root=None, limits: VideoLimits | None = None) -> VideoSwapPipeline:
        return cls(FaceSwapPipeline.from_pretrained(root), limits)

    def _select(self, tracks, which: str):
        if not tracks:
            return []
        if which == "all":
            return tracks
        if which == "largest":
            return [max(tracks, key=lambda t: t.size)]
        i = int(which)  # the i-th person to appear in the video
        return [t for t in tracks if t.id == i]

    @torch.no_grad()
    def __call__(
        self,
        source,
        video: str | os.PathLike,
        output: str | os.PathLike,
        options: SwapOptions | None = None,
        detect_every: int = 3,
        batch_size: int = 8,
        smoothing: bool = True,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
        reference=None,
    ) -> VideoResult:
        opts = options or SwapOptions(expression="mouth")  # a video's actors keep talking (benchmarks/swap_realism.py)
        opts.validate()
        video, output = Path(video), Path(output)
        if output.suffix.lower() != ".mp4":
            raise VideoError(f"{output.name}: the output must be an .mp4 file")
        meta = probe(video, self.limits)
        sw = self.swapper
        start = time.perf_counter()
        times = dict.fromkeys(("read", "track", "align", "vqgan", "blend", "write"), 0.0)

        # The source face: detected, aligned and encoded once.
        from .images import load_image

        src = load_image(source, name=input_label("source", source), max_pixels=sw.max_pixels)
        faces = sw._faces(src, "source", opts.min_face)
        source = sw.prepare_source(src, pick_faces(faces, opts.source_face)[0])
        similarity: dict[int, float] = {}  # track id -> likeness to the reference, measured when first seen
        if opts.target_face == "similar":
            if reference is None:
                raise ValueError('target_face="similar" needs a reference photo of the person to replace')
            ref = load_image(reference, name=input_label("reference", reference), max_pixels=sw.max_pixels)
            ref_face = pick_faces(sw._faces(ref, "reference", opts.min_face), "largest")[0]
            ref_signature = sw.face_signature([align_face(ref, ref_face.landmarks, sw.size)[0]])[0].numpy()

        fps = float(meta["fps"])
        total = max(1, round(float(meta.get("duration") or 0) * fps))
        has_audio = "audio_codec" in meta
        tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp.mp4")
        output.parent.mkdir(parents=True, exist_ok=True)

        def describe(frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:  # re-identifies people across cuts
            return sw.face_signature([align_face(frame, landmarks, sw.size)[0]])[0].numpy()

        tracker = FaceTracker(sw.detector, detect_every=detect_every, min_face=opts.min_face, describe=describe)
        smoother = ShotSmoother(window=7 if smoothing else 1)
        writer = None
        frames = with_faces = 0
        try:
            writer = imageio_ffmpeg.write_frames(
                str(tmp),
                meta["size"],
                fps=fps,
                codec="libx264",
                pix_fmt_out="yuv420p",
                quality=None,
                macro_block_size=2,  # yuv420p needs even sides; odd ones are scaled by one pixel
                ffmpeg_log_level="fatal",  # a damaged input's audio errors would flood the console; see VideoResult.note
                audio_path=str(video) if has_audio else None,
                audio_codec="aac" if has_audio else None,
                output_params=["-crf", "20", "-preset", "veryfast", "-movflags", "+faststart",
                               "-metadata", f"comment={labels()['Comment']}", "-metadata", f"encoder={labels()['Software']}"],
            )  # fmt: skip
            writer.send(None)  # start ffmpeg
            reader = imageio_ffmpeg.read_frames(str(video))
            next(reader)
            w, h = meta["size"]
            pending: list[tuple[np.ndarray, list[np.ndarray]]] = []  # (frame, landmarks of each face to swap) for the batched VQGAN pass
            warnings: dict[str, None] = {}  # pose warnings met on any frame, in order

            def flush():
                nonlocal with_faces
                t = time.perf_counter()
                # each face warped once, at its detail side; the VQGAN's crop is area-averaged from it
                warped = [
                    (fi, points, align_at_detail(frame, points, sw.size, 1.0))
                    for fi, (frame, faces) in enumerate(pending)
                    for points in faces
                ]
                crops = [(fi, points, (crop, matrix)) for fi, points, (crop, matrix, _) in warped]
                times["align"] += time.perf_counter() - t
                decoded, views, tokens, shapes = [], [], [], []
                if crops:
                    t = time.perf_counter()
                    with fast_inference():  # bf16 where the CPU has bf16 units (pipelines/precision.py)
                        codes = sw.vqgan.encode_to_indices(to_tensor([c for _, _, (c, _) in crops]))
                    views, pose_warnings = sw.views_for(source, [points for _, points, _ in crops])
                    warnings.update(dict.fromkeys(pose_warnings))
                    shapes = [crop_landmarks(points, m, sw.size) for _, points, (_, m) in crops]
                    swap, tokens = sw.exchange_codes(torch.stack([v.codes for v in views]), codes, opts, shapes=shapes)
                    with fast_inference():
                        decoded = sw.decode(swap)
                    times["vqgan"] += time.perf_counter() - t
                for fi, (frame, _) in enumerate(pending):
                    t = time.perf_counter()
                    mine = [k for k, (i, _, _) in enumerate(crops) if i == fi]  # this frame's faces
                    if mine:
                        frame, _ = sw.blend(
                            frame, [crops[k][2] for k in mine], [decoded[k] for k in mine], opts,
                            [views[k] for k in mine], tokens[mine], [shapes[k] for k in mine], oversample=1.0,
                            mark_strength=watermark.VIDEO_STRENGTH, hires=[warped[k][2][2] for k in mine],
                        )  # fmt: skip
                        with_faces += 1
                    times["blend"] += time.perf_counter() - t
                    t = time.perf_counter()
                    writer.send(np.ascontiguousarray(frame))
                    times["write"] += time.perf_counter() - t
                pending.clear()

            while True:
                t = time.perf_counter()
                raw = next(reader, None)
                times["read"] += time.perf_counter() - t
                if raw is None:
                    break
                if cancel is not None and cancel.is_set():
                    raise Cancelled("cancelled")
                frame = np.frombuffer(raw, np.uint8).reshape(h, w, 3)
                t = time.perf_counter()
                tracks = tracker.update(frame)
                if opts.target_face == "similar":
                    for tr in tracks:
                        if tr.id not in similarity:  # the tracker has just described this face: reuse it
                            similarity[tr.id] = float(tr.signature @ ref_signature)
                    chosen = [max(tracks, key=lambda tr: similarity[tr.id])] if tracks else []
                else:
                    chosen = self._select(tracks, opts.target_face)
                # every track feeds the smoother (its fit uses neighbouring frames); only the chosen are swapped
                ready = smoother.push((frame, [tr.id for tr in chosen]), {tr.id: tr.landmarks for tr in tracks}, tracker.shot)
                times["track"] += time.perf_counter() - t
                frames += 1
                if frames > self.limits.max_frames:
                    raise VideoError(f"{video.name}: more than {self.limits.max_frames} frames, over the limit")
                for (ready_frame, ids), smoothed in ready:
                    pending.append((ready_frame, [smoothed[i] for i in ids]))
                if len(pending) >= batch_size:
                    flush()
                    if progress:
                        progress(frames, max(total, frames))
            for (ready_frame, ids), smoothed in smoother.flush():
                pending.append((ready_frame, [smoothed[i] for i in ids]))
            flush()
            if frames == 0:
                raise VideoError(f"{video.name}: the video has no frames")
            writer.close()
            writer = None
            sign_in_place(tmp, "video/mp4", Made(f"video face swap ({with_faces} of {frames} frames changed)", ("vqgan",)))
            os.replace(tmp, output)
        except RuntimeError as e:
            if isinstance(e, Cancelled):
                raise
            raise VideoError(
                f"{video.name}: ffmpeg failed ({str(e).strip().splitlines()[-1] if str(e).strip() else 'no message'})"
            ) from None
        finally:
            if writer is not None:
                with contextlib.suppress(Exception):  # ffmpeg may be gone already; tmp is removed below
                    writer.close()
            tmp.unlink(missing_ok=True)
        if progress:
            progress(frames, frames)
        return VideoResult(
            output, frames, with_faces, fps, tuple(meta["size"]), has_audio, time.perf_counter() - start, times, total, list(warnings)
        )


def main(argv=None) -> int:
    from tqdm import tqdm

    p = argparse.ArgumentParser(description="Put the face of SOURCE onto every frame of VIDEO.")
    p.add_argument("source", help="photo with the face to use")
    p.add_argument("video", help="input video")
    p.add_argument("-o", "--output", required=True, help="output .mp4")
    add_swap_arguments(p)
    p.add_argument("--detect-every", type=int, default=3, help="run the detector every k-th frame; track in between")
    p.add_argument("--no-smoothing", action="store_true")
    p.add_argument("--max-seconds", type=float, default=VideoLimits.max_seconds)
    p.add_argument("--max-frames", type=int, default=VideoLimits.max_frames)
    p.add_argument("--max-megapixels", type=float, default=VideoLimits.max_pixels / 1e6)
    args = p.parse_args(argv)
    options = options_from_args(args, default_expression="mouth")
    limits = VideoLimits(args.max_seconds, args.max_frames, int(args.max_megapixels * 1e6))
    bar = tqdm(unit="frame", desc="swap")

    def progress(done, total):
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        options.validate()
        pipe = VideoSwapPipeline.from_pretrained(args.weights, limits)
        r = pipe(
            args.source,
            args.video,
            args.output,
            options,
            detect_every=args.detect_every,
            smoothing=not args.no_smoothing,
            progress=progress,
        )
    except (VideoError, ImageError, NoFaceError, WeightsError, ValueError) as e:
        bar.close()
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        bar.close()
        print("cancelled: no output written", file=sys.stderr)
        return 130
    bar.close()
    stages = ", ".join(f"{k} {v / max(r.frames, 1) * 1000:.1f}" for k, v in r.timings.items())
    print(f"wrote {r.path}: {r.frames} frames ({r.frames_with_faces} with faces) at {r.frames / r.seconds:.1f} fps; ms/frame: {stages}")
    if r.note:
        print(f"note: {Path(args.video).name}: {r.note}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
