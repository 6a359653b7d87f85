"""Video face swap: the photo swap applied to every frame, streamed, with the audio kept.

    python -m pipelines.video SOURCE VIDEO -o OUT.mp4 [--regions ...] [--target-face all|N|largest]

Frames stream from ffmpeg (imageio-ffmpeg's binary) through the face tracker and the VQGAN in
batches and back into an H.264 (yuv420p) MP4 with the input's frame rate, size and audio; memory
does not grow with the video's length. A thread reads, tracks and prepares the next batch (aligns its
faces, finds their landmarks, warps the source to each face's expression: prepared) while the current
one goes through the VQGAN, is composed and written (pipelines/prefetch.py), torch on half the cores in
each (pipelines/threads.py): the same frames, about a quarter more of them a second at 720p on 2
cores than with all but the reading and tracking in the swapping thread (benchmarks/RESULTS.md, Video).
The output is written to a temporary file beside OUT and renamed when complete, so a failure or
a cancel leaves nothing behind.

Every frame's face is warped to the actor's expression and composed at full detail, where the face
is the source's pixels plus the decoder's seam (pipelines/detail.py). The seam changes slowly, so
the VQGAN runs on every MODEL_EVERY-th frame of a face and its seam is carried to the frames between
(key_faces): 13 -> 15-18 fps at 720p on 2 cores of an AMD EPYC, every frame within 42-50 dB (mean
52-61 dB) of what the model run on every frame makes (benchmarks/RESULTS.md, Video).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import torch

from models import WeightsError

from . import watermark
from .credentials import Made, sign_in_place
from .detail import VIDEO_DETAIL, seam
from .expression import MouthInside
from .faces import align_face, transform_points
from .focus import SteadyFocus
from .hands import HandTracker
from .images import ImageError
from .precision import fast_inference
from .prefetch import prefetched
from .provenance import labels
from .swap import (
    FaceSwapPipeline,
    NoFaceError,
    SourceFace,
    SwapOptions,
    add_swap_arguments,
    align_at_detail,
    crop_landmarks,
    options_from_args,
    outline,
)
from .threads import half_the_cores
from .timing import Timings
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
    # seconds per stage, summed over frames; "read" and "track" run in a thread beside the others (prefetch.py)
    timings: dict[str, float] = field(default_factory=dict)
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


# A face's VQGAN pass (its encode, the warped source's encode and decode, the swap's decode) is run
# on every MODEL_EVERY-th frame, and its seam carried to the frames between (key_faces).
MODEL_EVERY = 3


class VideoSwapPipeline:
    def __init__(self, swapper: FaceSwapPipeline, limits: VideoLimits | None = None, model_every: int = MODEL_EVERY):
        self.swapper = swapper
        self.limits = limits or VideoLimits()
        if model_every < 1:
            raise ValueError(f"model_every (--model-every) must be 1 or more, got {model_every}")
        self.model_every = model_every  # frames of a face per VQGAN pass (key_faces)

    @classmethod
    def from_pretrained(cls, root=None, limits: VideoLimits | None = None, model_every: int = MODEL_EVERY) -> VideoSwapPipeline:
        return cls(FaceSwapPipeline.from_pretrained(root), limits, model_every)

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
        opts = options or SwapOptions(expression="target")  # a video's actors keep talking and blinking (benchmarks/swap_realism.py)
        if opts.relight is None:  # a video's default (SwapOptions.relight)
            opts = dataclasses.replace(opts, relight=False)
        opts.validate()
        video, output = Path(video), Path(output)
        if output.suffix.lower() != ".mp4":
            raise VideoError(f"{output.name}: the output must be an .mp4 file")
        meta = probe(video, self.limits)
        start = time.perf_counter()
        sw = self.swapper
        source_face = sw.choose_source(sw.load(source, "source"), opts)  # detected, aligned and encoded once
        chooser = TrackChooser(opts.target_face, sw.reference_signature(reference, opts) if opts.target_face == "similar" else None)
        tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp.mp4")
        output.parent.mkdir(parents=True, exist_ok=True)
        job = VideoJob(frames=0, with_faces=0, total=max(1, round(float(meta.get("duration") or 0) * float(meta["fps"]))),
                       hands=HandTracker(sw.hands) if opts.hands else None)  # fmt: skip
        writer = None
        try:
            writer = open_writer(tmp, meta, video)
            self.swap_frames(video, meta, writer, source_face, opts, chooser, job, detect_every, batch_size, smoothing, progress, cancel)
            if job.frames == 0:
                raise VideoError(f"{video.name}: the video has no frames")
            writer.close()
            writer = None
            sign_in_place(tmp, "video/mp4", Made(f"video face swap ({job.with_faces} of {job.frames} frames changed)", ("vqgan",)))
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
            progress(job.frames, job.frames)
        return VideoResult(
            output, job.frames, job.with_faces, float(meta["fps"]), tuple(meta["size"]), "audio_codec" in meta,
            time.perf_counter() - start, dict(job.times), job.total, list(job.warnings),
        )  # fmt: skip

    def swap_frames(self, video: Path, meta: dict, writer, source: SourceFace, opts: SwapOptions, chooser: TrackChooser,
                    job: VideoJob, detect_every: int, batch_size: int, smoothing: bool, progress, cancel) -> None:  # fmt: skip
        """Swap the tracked batches (made one batch ahead, in a background thread: VideoSwapPipeline.prepared) and
        write the frames in order."""
        batches = self.tracked_batches(video, meta, source, opts, chooser, job, detect_every, batch_size, smoothing, cancel)
        # closed: on an error here the thread stops at once; torch on half the cores in each thread (pipelines/threads.py)
        with half_the_cores(), contextlib.closing(prefetched(batches, depth=1)) as ahead:
            for batch in ahead:
                for frame in self.swap_batch(batch, opts, job):
                    with job.times("write"):
                        writer.send(frame)
                if progress:
                    progress(job.frames, max(job.total, job.frames))

    @torch.no_grad()
    def tracked_batches(self, video: Path, meta: dict, source: SourceFace, opts: SwapOptions, chooser: TrackChooser, job: VideoJob,
                        detect_every: int, batch_size: int, smoothing: bool, cancel) -> Iterator[Prepared]:  # fmt: skip
        """Read, track, choose and smooth every frame's faces -> batches of frames with the faces to swap, aligned
        and the source warped to each (prepared), in frame order, each at least batch_size frames but the last."""
        sw, times = self.swapper, job.times

        def describe(frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:  # re-identifies people across cuts
            return sw.face_signature([align_face(frame, landmarks, sw.size)[0]])[0].cpu().numpy()

        try:
            follow = sw.landmarks.follow  # the face mesh follows each face between scans (pipelines/landmarks.py)
        except RuntimeError:  # no TFLite runtime on this platform: re-detection windows and optical flow
            follow = None
        tracker = FaceTracker(sw.detector, detect_every=detect_every, min_face=opts.min_face, describe=describe, follow=follow)
        smoother = ShotSmoother(window=9 if smoothing else 1)  # 9, not 7, with the mesh's points (benchmarks/RESULTS.md, Video)
        pending: list[tuple[np.ndarray, list[Tracked]]] = []  # (frame, its faces to swap) for one VQGAN pass
        w, h = meta["size"]

        def to_swap(ready) -> list[tuple[np.ndarray, list[Tracked]]]:  # the smoother's frames -> (frame, its faces to swap)
            return [(frame, [Tracked(smoothed[i], mesh, i, shot) for i, mesh in meshes.items()])
                    for (frame, meshes, shot), smoothed in ready]  # fmt: skip

        reader = imageio_ffmpeg.read_frames(str(video))
        try:
            with half_the_cores():  # torch in the reading thread, where this generator runs (pipelines/threads.py)
                next(reader)
                while True:
                    with times("read"):
                        raw = next(reader, None)
                    if raw is None:
                        break
                    if cancel is not None and cancel.is_set():
                        raise Cancelled("cancelled")
                    frame = np.frombuffer(raw, np.uint8).reshape(h, w, 3)
                    with times("track"):
                        tracks = tracker.update(frame)
                        chosen = chooser(tracks)
                        # every track feeds the smoother (its fit uses neighbouring frames); only the chosen are swapped
                        payload = (frame, {tr.id: tr.mesh for tr in chosen}, tracker.shot)
                        ready = smoother.push(payload, {tr.id: tr.landmarks for tr in tracks}, tracker.shot)
                    job.frames += 1
                    if job.frames > self.limits.max_frames:
                        raise VideoError(f"{video.name}: more than {self.limits.max_frames} frames, over the limit")
                    pending += to_swap(ready)
                    if len(pending) >= batch_size:
                        yield self.prepared(pending, source, opts, job)
                        pending = []
                pending += to_swap(smoother.flush())
                if pending:
                    yield self.prepared(pending, source, opts, job)
        finally:
            reader.close()  # stops ffmpeg, also when the swap stopped early

    def prepared(self, pending: list[tuple[np.ndarray, list[Tracked]]], source: SourceFace, opts: SwapOptions, job: VideoJob) -> Prepared:
        """A batch's faces aligned at their detail side, with their checked meshes, and the source's view for
        each warped to its expression, waiting for the VQGAN (in the reading thread: the main thread has the
        VQGAN and the composition)."""
        sw, times = self.swapper, job.times
        with times("align"):
            faces = [BatchFace(i, face, *align_at_detail(frame, face.landmarks, sw.size, VIDEO_DETAIL))
                     for i, (frame, tracked) in enumerate(pending) for face in tracked]  # fmt: skip
            shapes = [crop_landmarks(f.tracked.landmarks, f.matrix, sw.size) for f in faces]
        with times("target points"):  # the TFLite models: no torch here
            meshes = sw.target_meshes([f.hires for f in faces], shapes, [f.mesh_in_hires() for f in faces])
            points = sw.target_points([f.hires for f in faces], meshes, opts)
        with times("expression"):
            chosen, pose_warnings = sw.views_for(source, [f.tracked.landmarks for f in faces])
            job.warnings.update(dict.fromkeys(pose_warnings))
            # no turn to the target's pose here (pipelines/turn.py): on the hamilton clip it costs the eye-opening
            # figure (0.75 against 0.83 by the mesh) for little identity (40% against 36%); photos only for now.
            # encode=False: the warp alone (landmarks, OpenCV); the VQGAN is the swapping thread's
            posed, keeps = sw.wear_expression(chosen, [f.hires for f in faces], opts, points, encode=False)
        # each face's focus, steadied over its track's frames (pipelines/focus.py), read in frame order here
        blurs = [job.focus((f.tracked.track, f.tracked.shot), f.hires) if opts.focus else None for f in faces]
        hands = [None] * len(faces)
        if job.hands is not None:
            with times("hands"):  # followed from frame to frame (pipelines/hands.py: HandTracker), in frame order
                hands = [job.hands(pending[f.frame][0], (f.tracked.track, f.tracked.shot), f.matrix, sw.size) for f in faces]
        return Prepared(pending, faces, shapes, meshes, chosen, posed, keeps, hands, blurs)

    def swap_batch(self, batch: Prepared, opts: SwapOptions, job: VideoJob) -> list[np.ndarray]:
        """A batch (prepared) -> its frames with their faces swapped. Each face is warped
        once, at its detail side, and wears its frame's expression; the VQGAN runs on the key faces
        (key_faces) all together, and every face is composed with its key's seam (pipelines/detail.py)."""
        sw, times = self.swapper, job.times
        pending, faces, shapes, meshes, views, keeps = batch.pending, batch.faces, batch.shapes, batch.meshes, batch.views, batch.keeps
        if faces:
            # at detail 1 the decoder's part of a face is its seam, which changes slowly: carried over a few frames
            every = self.model_every if opts.detail >= 1 and not opts.harmonize else 1
            key_of = key_faces([(f.tracked.track, f.tracked.shot, id(v)) for f, v in zip(faces, batch.sources, strict=True)], every)
            keys = sorted(set(key_of))
            with times("vqgan"):
                with fast_inference(sw.device):  # bf16 where the CPU has bf16 units (pipelines/precision.py)
                    sw.encode_pending([views[k] for k in keys])
                    codes = sw.encode([faces[k].crop for k in keys])
                swap, key_tokens = sw.exchange_codes(torch.stack([views[k].codes for k in keys]), codes, opts, [shapes[k] for k in keys])
                with fast_inference(sw.device):
                    decoded = sw.decode(swap)
            at = {k: j for j, k in enumerate(keys)}  # a key face -> its place among the keys
            tokens = key_tokens[[at[k] for k in key_of]]  # each face takes its key's cells, which its seam belongs to
            if every > 1:
                key_seams = [seam(d, views[k].decoded) for k, d in zip(keys, decoded, strict=True)]
                seams, decoded = [key_seams[at[k]] for k in key_of], None
            else:  # every face is its own key
                seams, decoded = None, [decoded[at[k]] for k in key_of]
        out = []
        for fi, (frame, _) in enumerate(pending):
            mine = [k for k, face in enumerate(faces) if face.frame == fi]  # this frame's faces
            if mine:
                with times("blend"):
                    frame, _ = sw.blend(
                        frame, [(faces[k].crop, faces[k].matrix) for k in mine], None if decoded is None else [decoded[k] for k in mine],
                        opts, [views[k] for k in mine], tokens[mine], [shapes[k] for k in mine], scale=VIDEO_DETAIL,
                        mark_strength=watermark.video_strength, hires=[faces[k].hires for k in mine], keeps=[keeps[k] for k in mine],
                        outlines=[outline(meshes[k]) for k in mine], seams=None if seams is None else [seams[k] for k in mine],
                        hands=[batch.hands[k] or [] for k in mine], target_blurs=[batch.blurs[k] for k in mine],
                    )  # fmt: skip
                job.with_faces += 1
            out.append(frame)
        return out


def key_faces(faces: list[tuple[int, int, int]], every: int) -> list[int]:
    """Which face of a batch each face takes its seam from: (track id, shot, source view) of each face,
    in frame order -> for each, the index of its key face (itself, if it is one). A face is a key when
    it is the first of its track in the batch, `every` frames after its track's last key, or when its
    shot or its source view (mirrored or not) changed since that key.

    The faces between take their key's code cells with its seam (a seam belongs to its cells' edge).
    Not a key where only the cells changed: a cell on the region's rim flips with the landmarks' jitter
    (69% of the singer clip's faces would be keys, 37% without), and held for a few frames it flickers
    less; against the VQGAN on every frame that leaves hamilton's frames within 42 dB (5th
    percentile 46, mean 61; benchmarks/RESULTS.md, Video)."""
    last: dict[int, tuple[int, int]] = {}  # track -> (index of its latest key, the track's faces since, the key's included)
    key_of = []
    for i, face in enumerate(faces):
        track = face[0]
        k, since = last.get(track, (-1, 0))
        if k < 0 or since >= every or faces[k][1:] != face[1:]:
            k, since = i, 0
        last[track] = (k, since + 1)
        key_of.append(k)
    return key_of


@dataclass
class Tracked:
    """A face of a frame to swap, as tracked: its smoothed landmarks, the face mesh the tracker ran on
    this frame (pipelines/landmarks.py), if it did, so the expression need not run it again, and who and
    in which shot it is (a key face's seam is carried only within a track and a shot)."""

    landmarks: np.ndarray  # (5, 2) frame pixels
    mesh: np.ndarray | None  # (468, 2) frame pixels
    track: int  # the tracker's id of this person
    shot: int  # the tracker's count of cuts before this frame


@dataclass
class BatchFace:
    """One face of a swap batch, aligned (align_at_detail)."""

    frame: int  # which frame of the batch
    tracked: Tracked
    crop: np.ndarray  # (S, S, 3) the VQGAN's input
    matrix: np.ndarray  # (2, 3) frame -> S crop
    hires: np.ndarray  # (P, P, 3) the same face at its detail side

    def mesh_in_hires(self) -> np.ndarray | None:
        """The tracker's mesh in the hires crop's unit coordinates, or None."""
        if self.tracked.mesh is None:
            return None
        return transform_points(self.tracked.mesh, self.matrix) / self.crop.shape[0]


@dataclass
class Prepared:
    """A batch of frames to swap, its faces aligned and the source warped to each (VideoSwapPipeline.prepared)."""

    pending: list[tuple[np.ndarray, list[Tracked]]]  # (frame, its tracked faces to swap)
    faces: list[BatchFace]
    shapes: list[np.ndarray]  # each face's (5, 2) landmarks in unit crop coordinates
    meshes: list[np.ndarray | None]  # each face's checked (468, 2) mesh in unit crop coordinates (target_meshes)
    sources: list[SourceFace]  # the source's view chosen for each face (views_for: mirrored or not)
    views: list[SourceFace]  # that view warped to the face's expression, its codes to come (wear_expression)
    keeps: list[MouthInside | None]  # what of each face stays its own (wear_expression)
    hands: list[list[np.ndarray] | None]  # the hands in front of each face, (21, 2) frame pixels each (find_hands; None: off)
    blurs: list[float | None]  # each face's edge width at its detail side, steadied (SteadyFocus; None: unread, or focus off)


@dataclass
class VideoJob:
    """What one video swap has counted so far."""

    frames: int  # read
    with_faces: int  # with at least one face swapped
    total: int  # duration x frame rate from the header (the progress bar's end)
    times: Timings = field(default_factory=Timings)  # seconds per stage, summed over frames
    warnings: dict[str, None] = field(default_factory=dict)  # pose warnings met on any frame, in order
    hands: HandTracker | None = None  # the hands in front of each face, followed (pipelines/hands.py)
    focus: SteadyFocus = field(default_factory=SteadyFocus)  # each face's edge width, steadied (pipelines/focus.py)


class TrackChooser:
    """Which tracked faces a frame swaps (SwapOptions.target_face): all, the largest, the i-th person to
    appear, or the person most like a reference face (each track scored once, when first seen)."""

    def __init__(self, which: str, reference: np.ndarray | None = None):
        self.which, self.reference = which, reference
        self.similarity: dict[int, float] = {}  # track id -> likeness to the reference

    def __call__(self, tracks) -> list:
        if not tracks or self.which == "all":
            return tracks
        if self.which == "largest":
            return [max(tracks, key=lambda t: t.size)]
        if self.which == "similar":
            for t in tracks:
                if t.id not in self.similarity:  # the tracker has just described this face: reuse it
                    self.similarity[t.id] = float(t.signature @ self.reference)
            return [max(tracks, key=lambda t: self.similarity[t.id])]
        return [t for t in tracks if t.id == int(self.which)]


# x264's fastest preset: on 2 cores the encoder competes with the swap for the CPU. Against "veryfast"
# on the 720p benchmark clip at CRF 20: 5.7 instead of 17.1 ms of CPU a frame, the same PSNR (43.3 vs
# 43.4 dB against the decoded input), files twice the size (4.5 vs 2.2 MB for 10 s).
X264_PRESET = "ultrafast"


class FrameWriter:
    """An ffmpeg writer (imageio-ffmpeg's generator) that takes (H, W, 3) uint8 RGB frames and sends them as I420."""

    def __init__(self, frames):
        self.frames = frames

    def send(self, frame: np.ndarray) -> None:
        self.frames.send(as_i420(frame))

    def close(self) -> None:
        self.frames.close()


def open_writer(path: Path, meta: dict, video: Path) -> FrameWriter:
    """A started ffmpeg writer of an H.264 MP4 at the input's size (an odd side one pixel more) and frame
    rate, with its audio (if any)."""
    has_audio = "audio_codec" in meta
    w, h = meta["size"]
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (w + w % 2, h + h % 2),
        fps=float(meta["fps"]),
        codec="libx264",
        pix_fmt_in="yuv420p",
        pix_fmt_out="yuv420p",
        quality=None,
        macro_block_size=2,  # the sides are even already; imageio's default (16) would scale them
        ffmpeg_log_level="fatal",  # a damaged input's audio errors would flood the console; see VideoResult.note
        audio_path=str(video) if has_audio else None,
        audio_codec="aac" if has_audio else None,
        output_params=["-crf", "20", "-preset", X264_PRESET, "-movflags", "+faststart",
                       "-metadata", f"comment={labels()['Comment']}", "-metadata", f"encoder={labels()['Software']}"],
    )  # fmt: skip
    writer.send(None)  # start ffmpeg
    return FrameWriter(writer)


def as_i420(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3H/2, W) uint8 I420 (yuv420p) planes, the form x264 encodes. Converted here,
    not by ffmpeg: OpenCV's conversion costs less CPU than ffmpeg's from rgb24 and halves the bytes sent
    through the pipe (720p, ffmpeg alone: 3.1-3.5 instead of 4.4-5.5 ms a frame; the same colours, BT.601
    studio range, 43.5 dB against the frames after x264 at CRF 20). An odd side is padded by repeating
    its last row or column: yuv420p has even sides."""
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
        frame = cv2.copyMakeBorder(frame, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
    return cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420)


def main(argv=None) -> int:
    from tqdm import tqdm

    p = argparse.ArgumentParser(description="Put the face of SOURCE onto every frame of VIDEO.")
    p.add_argument("source", help="photo with the face to use")
    p.add_argument("video", help="input video")
    p.add_argument("-o", "--output", required=True, help="output .mp4")
    add_swap_arguments(p)
    p.add_argument("--detect-every", type=int, default=3, help="run the detector every k-th frame; track in between")
    p.add_argument("--no-smoothing", action="store_true")
    p.add_argument("--model-every", type=int, default=MODEL_EVERY,
                   help="run the VQGAN on every k-th frame of a face and carry its seam between (at detail 1; 1: every frame)")  # fmt: skip
    p.add_argument("--max-seconds", type=float, default=VideoLimits.max_seconds)
    p.add_argument("--max-frames", type=int, default=VideoLimits.max_frames)
    p.add_argument("--max-megapixels", type=float, default=VideoLimits.max_pixels / 1e6)
    args = p.parse_args(argv)
    options = options_from_args(args, default_expression="target")
    limits = VideoLimits(args.max_seconds, args.max_frames, int(args.max_megapixels * 1e6))
    bar = tqdm(unit="frame", desc="swap")

    def progress(done, total):
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        options.validate()
        pipe = VideoSwapPipeline.from_pretrained(args.weights, limits, args.model_every)
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
    print(
        f"wrote {r.path}: {r.frames} frames ({r.frames_with_faces} with faces) at {r.frames / r.seconds:.1f} fps; "
        f"ms/frame (read and track run beside the rest): {stages}"
    )
    if r.note:
        print(f"note: {Path(args.video).name}: {r.note}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
