"""Faces across video frames: detection every k-th frame, optical-flow tracking in between,
identities kept by matching, and One-Euro smoothing of the landmarks so a swapped face does not jitter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from .faces import Face, detect_faces


class OneEuroFilter:
    """Casiez et al. 2012, "1 Euro Filter": a low-pass filter whose cut-off rises with speed, so slow
    jitter is smoothed away while fast motion is followed without lag. Works on arrays elementwise."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None
        self.t: float | None = None

    @staticmethod
    def _alpha(cutoff: float | np.ndarray, dt: float):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        if self.x is None or self.t is None or t <= self.t:
            self.x, self.dx, self.t = x.astype(np.float64), np.zeros_like(x, np.float64), t
            return self.x.copy()
        dt = t - self.t
        dx = (x - self.x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self.dx = a_d * dx + (1 - a_d) * self.dx
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        a = self._alpha(cutoff, dt)
        self.x = a * x + (1 - a) * self.x
        self.t = t
        return self.x.copy()


@dataclass
class Track:
    id: int
    landmarks: np.ndarray  # (5, 2) raw (unsmoothed) landmarks in the current frame
    size: float  # face box side, pixels
    smoother: OneEuroFilter
    missed: int = 0  # detection rounds without a matching detection
    smoothed: np.ndarray = field(default_factory=lambda: np.zeros((5, 2)))


class FaceTracker:
    """Feed frames in order; get the tracked faces (id, smoothed landmarks) of each.

    detect_every: run MTCNN on every k-th frame (and after a cut); between detections the
    landmarks follow pyramidal Lucas-Kanade optical flow.
    """

    def __init__(self, detector=None, detect_every: int = 2, min_face: float = 24.0, smoothing: bool = True, cut_threshold: float = 40.0,
                 max_side: int = 640):  # fmt: skip
        self.detector = detector
        self.detect_every = max(1, detect_every)
        self.min_face = min_face
        self.smoothing = smoothing
        self.cut_threshold = cut_threshold
        self.max_side = max_side  # detection resolution: video faces are rarely tiny, and time is per frame
        self.tracks: list[Track] = []
        self.next_id = 0
        self.frame_index = 0
        self.prev_gray: np.ndarray | None = None
        self.prev_thumb: np.ndarray | None = None

    def _is_cut(self, gray: np.ndarray) -> bool:
        thumb = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
        cut = self.prev_thumb is not None and float(np.abs(thumb - self.prev_thumb).mean()) > self.cut_threshold
        self.prev_thumb = thumb
        return cut

    def _match(self, faces: list[Face], reset: bool) -> None:
        """Greedy nearest matching of detections to tracks by landmark centroid, within half a face."""
        pairs = []
        for ti, tr in enumerate(self.tracks):
            for fi, f in enumerate(faces):
                d = float(np.linalg.norm(tr.landmarks.mean(0) - f.landmarks.mean(0)))
                if d < 0.5 * max(tr.size, f.size):
                    pairs.append((d, ti, fi))
        used_t, used_f = set(), set()
        for _, ti, fi in sorted(pairs):
            if ti in used_t or fi in used_f:
                continue
            used_t.add(ti)
            used_f.add(fi)
            tr, f = self.tracks[ti], faces[fi]
            tr.landmarks, tr.size, tr.missed = f.landmarks, f.size, 0
            if reset:
                tr.smoother = OneEuroFilter()
        for ti, tr in enumerate(self.tracks):
            if ti not in used_t:
                tr.missed += 1
        self.tracks = [t for t in self.tracks if t.missed == 0 or (t.missed < 2 and not reset)]
        for fi, f in enumerate(faces):
            if fi not in used_f:
                self.tracks.append(Track(self.next_id, f.landmarks, f.size, OneEuroFilter()))
                self.next_id += 1

    def _flow(self, gray: np.ndarray) -> None:
        for tr in self.tracks:
            pts = tr.landmarks.astype(np.float32).reshape(-1, 1, 2)
            win = int(max(11, min(41, tr.size / 6))) | 1
            new, status, _ = cv2.calcOpticalFlowPyrLK(self.prev_gray, gray, pts, None, winSize=(win, win), maxLevel=3)
            ok = status.ravel() == 1
            if ok.sum() >= 3:
                moved = new.reshape(-1, 2)
                # points that failed follow the mean motion of those that did
                shift = (moved[ok] - tr.landmarks[ok]).mean(0)
                tr.landmarks = np.where(ok[:, None], moved, tr.landmarks + shift)

    def update(self, frame: np.ndarray, t: float) -> list[Track]:
        """frame (H, W, 3) uint8 RGB at time t seconds -> current tracks (smoothed landmarks set)."""
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        cut = self._is_cut(gray)
        if cut or self.frame_index % self.detect_every == 0 or self.prev_gray is None:
            self._match(detect_faces(frame, self.detector, min_size=self.min_face, max_side=self.max_side), reset=cut)
        else:
            self._flow(gray)
        self.prev_gray = gray
        self.frame_index += 1
        for tr in self.tracks:
            tr.smoothed = tr.smoother(tr.landmarks, t) if self.smoothing else tr.landmarks.copy()
        return [tr for tr in self.tracks if tr.missed == 0]
