"""Faces across video frames: detection every k-th frame, tracking in between (a landmark model on
the face where it was, or optical flow), identities kept by matching, and zero-lag smoothing of the
landmarks so a swapped face does not jitter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .faces import Face, detect_faces, detect_faces_near

# A cut: consecutive frames' 32 x 32 grey thumbnails differ by more than this many times their contrast
# (mean absolute difference over the mean of their standard deviations). On the test clips the cuts
# read 0.89-1.02 and everything else (a handheld camera, a singer's fast moves, stage lights) at most
# 0.34. A fixed number of grey levels (40, before) missed the cuts between two dark shots of the hamilton
# clip (26-30 levels): a track then jumped from the speaker to a face in the audience, and the
# smoothing blended the two for four frames either side (the swapped face drawn halfway between them).
CUT = 0.6


def thumbnail(gray: np.ndarray) -> np.ndarray:
    """(H, W) uint8 grey frame -> (32, 32) float32 thumbnail (every step-th pixel first: area-averaging
    all of a 720p frame costs 1 ms)."""
    step = max(1, min(gray.shape) // 128)
    return cv2.resize(gray[::step, ::step], (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)


def is_cut(before: np.ndarray, after: np.ndarray, threshold: float = CUT) -> bool:
    """Whether two consecutive frames' thumbnails (thumbnail) lie on either side of a cut."""
    contrast = max(float(before.std() + after.std()) / 2, 1.0)  # a black frame has none: compare levels there
    return float(np.abs(after - before).mean()) / contrast > threshold


class ShotSmoother:
    """Zero-lag landmark smoothing for video, where a few frames of look-ahead cost nothing.

    Each frame's landmarks of a track become a Savitzky-Golay estimate: a quadratic fitted by least
    squares to that track's landmarks in the `window` frames centred on it (same shot only) and
    evaluated at the frame. A causal filter (One-Euro, our first choice) lags moving faces: on a
    720p music video it left the landmarks a median 4% (95th percentile 12%) of the eye-to-mouth
    distance behind the detected ones, seen as the swapped face sliding over the head. The centred
    fit follows motion and still removes about half the frame-to-frame noise (benchmarks/video.py).

    push() takes one frame's observations and returns the frames now complete (window // 2 behind);
    flush() returns the rest at the end.
    """

    def __init__(self, window: int = 7):
        self.half = max(0, window // 2)
        self.frames: list[tuple[object, dict[int, np.ndarray], int]] = []  # (payload, {track id: (5, 2)}, shot)
        self.done = 0  # frames already returned; self.frames[0] is frame number self.first
        self.first = 0

    def push(self, payload, landmarks: dict[int, np.ndarray], shot: int) -> list[tuple[object, dict[int, np.ndarray]]]:
        self.frames.append((payload, landmarks, shot))
        return self._emit(final=False)

    def flush(self) -> list[tuple[object, dict[int, np.ndarray]]]:
        return self._emit(final=True)

    def _emit(self, final: bool) -> list[tuple[object, dict[int, np.ndarray]]]:
        out = []
        while self.done < self.first + len(self.frames) and (final or self.first + len(self.frames) - 1 - self.done >= self.half):
            i = self.done - self.first  # index in self.frames of the frame to emit
            payload, observed, shot = self.frames[i]
            out.append((payload, {tid: self._fit(i, tid, shot) for tid in observed}))
            self.done += 1
            drop = max(0, self.done - self.half - self.first)  # keep half a window of past frames
            del self.frames[:drop]
            self.first += drop
        return out

    def _fit(self, i: int, tid: int, shot: int) -> np.ndarray:
        offsets, values = [], []
        for j in range(max(0, i - self.half), min(len(self.frames), i + self.half + 1)):
            _, observed, s = self.frames[j]
            if s == shot and tid in observed:
                offsets.append(j - i)
                values.append(observed[tid].reshape(-1))
        degree = min(2, len(offsets) - 1)
        if degree < 1:
            return self.frames[i][1][tid].copy()
        design = np.vander(np.asarray(offsets, np.float64), degree + 1, increasing=True)  # columns 1, t, t^2
        coef, *_ = np.linalg.lstsq(design, np.asarray(values), rcond=None)
        return coef[0].reshape(-1, 2)  # the fit at t = 0


def spread(points: np.ndarray) -> float:
    """How far (5, 2) points lie from their centroid (root of the summed squares): grows with the face."""
    return float(np.linalg.norm(points - points.mean(0)))


def nearest(faces: list[Face], centre: np.ndarray) -> Face:
    """The face whose landmarks' centroid is closest to `centre` (x, y)."""
    return min(faces, key=lambda f: float(np.linalg.norm(f.landmarks.mean(0) - centre)))


@dataclass(eq=False)  # tracks are compared by identity (their fields hold arrays)
class Track:
    id: int
    landmarks: np.ndarray  # (5, 2) landmarks in the current frame (detected, or followed by optical flow)
    size: float  # face box side, pixels
    missed: int = 0  # detection rounds without a matching detection
    signature: np.ndarray | None = None  # appearance, (D,) unit vector, when the tracker has a describe function
    seen: int = 1  # detections averaged into the signature
    fresh: bool = False  # given a new id; may still turn out to be a departed person in its first detections
    mesh: np.ndarray | None = None  # (N, 2) the landmark model's dense points in this frame, when it placed the landmarks
    box_per_spread: float = field(init=False)  # size over spread(landmarks) at the last detection: the size of a followed face

    def __post_init__(self):
        self.box_per_spread = self.size / max(spread(self.landmarks), 1e-6)

    def detected(self, face: Face) -> None:
        """Take a detection's landmarks and size."""
        self.landmarks, self.size, self.missed, self.mesh = face.landmarks, face.size, 0, None
        self.box_per_spread = face.size / max(spread(face.landmarks), 1e-6)


class FaceTracker:
    """Feed frames in order; get the tracked faces (id, landmarks) of each. `shot` counts the cuts
    seen so far (identities carry over a cut; smoothing must not).

    detect_every: re-detect the tracked faces on every k-th frame, in a small window around each
    (cheap: the window is scaled so the face is about 100 px); between detections the landmarks
    follow pyramidal Lucas-Kanade optical flow.
    scan_every: scan the whole frame (at most max_side pixels) every k-th frame and after a cut, to
    find faces that appear; while nothing is tracked, scan every detect_every-th frame instead.
    describe: (frame, landmarks) -> unit appearance vector. With it, a face that appears (after a
    cut, or back in view) takes the id of the departed track it resembles most, if their cosine
    similarity is at least same_person; without it, every new appearance is a new id.
    follow: (frame, landmarks) -> the face found near the given landmarks in this frame, its (5, 2)
    `points` and dense `mesh` (kept as Track.mesh), or None when no face is there
    (DenseLandmarks.follow: the face mesh on the face aligned there, about 3 ms a face; None also
    when the mesh scores the face low, as when a hand passes over it, so it cannot slide off). With it,
    on every frame between whole-frame scans, optical flow moves each face's points and the
    landmark model then places them from that frame's pixels (no drift), instead of re-detecting
    every detect_every-th frame; the detector's window is the fallback when the model loses a face.
    Flow alone lags a fast face and the model alone, started where the face was, falls behind it
    (the mesh is biased towards the crop's centre): measured on the singer clip, both together stay
    within 3% (mean; 10% worst) of the face's size of MTCNN's own points.
    """

    def __init__(self, detector=None, detect_every: int = 3, min_face: float = 24.0, cut_threshold: float = CUT,
                 max_side: int = 640, scan_every: int = 30, describe=None, same_person: float = 0.8, follow=None):  # fmt: skip
        self.detector = detector
        self.detect_every = max(1, detect_every)
        self.scan_every = max(1, scan_every)
        self.min_face = min_face
        self.cut_threshold = cut_threshold
        self.max_side = max_side  # detection resolution: video faces are rarely tiny, and time is per frame
        self.describe = describe
        self.same_person = same_person
        self.follow = follow
        self.tracks: list[Track] = []
        self.departed: dict[int, np.ndarray] = {}  # id -> signature of tracks no longer in view
        self.next_id = 0
        self.frame_index = 0
        self.shot = 0
        self.prev_gray: np.ndarray | None = None
        self.prev_thumb: np.ndarray | None = None

    def _is_cut(self, gray: np.ndarray) -> bool:
        thumb = thumbnail(gray)
        cut = self.prev_thumb is not None and is_cut(self.prev_thumb, thumb, self.cut_threshold)
        self.prev_thumb = thumb
        return cut

    def _departed_match(self, signature: np.ndarray | None) -> int | None:
        """The id of the departed track most like `signature`, if any is at least same_person alike."""
        if signature is None:
            return None
        best, best_sim = None, self.same_person
        for tid, old in self.departed.items():
            if float(signature @ old) >= best_sim:
                best, best_sim = tid, float(signature @ old)
        return best

    def _new_track(self, frame: np.ndarray, face: Face) -> Track:
        """A track for a face no track matched: a departed person's id if it resembles one, else a new id."""
        signature = self.describe(frame, face.landmarks) if self.describe is not None else None
        tid = self._departed_match(signature)
        fresh = tid is None
        if fresh:
            tid, self.next_id = self.next_id, self.next_id + 1
        else:
            del self.departed[tid]
        return Track(tid, face.landmarks, face.size, signature=signature, fresh=fresh)

    def _match(self, frame: np.ndarray, faces: list[Face], cut: bool, scan: bool) -> None:
        """Greedy nearest matching of detections to tracks by landmark centroid, within half a face.
        Signatures are refreshed for young tracks and on whole-frame scans (each costs a VQGAN encode)."""
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
            tr.detected(f)
            if scan or tr.seen < 8:
                self._look_again(frame, tr, f)
        for ti, tr in enumerate(self.tracks):
            if ti not in used_t:
                tr.missed += 1
        kept = [t for t in self.tracks if t.missed == 0 or (t.missed < 2 and not cut)]
        self.departed.update({t.id: t.signature for t in self.tracks if t not in kept and t.signature is not None})
        self.tracks = kept
        for fi, f in enumerate(faces):
            if fi not in used_f:
                self.tracks.append(self._new_track(frame, f))

    def _look_again(self, frame: np.ndarray, tr: Track, seen: Face) -> None:
        """Fold this frame's look of the face into its signature (a running mean: steadier than one
        frame) and, while the track is new, see whether it is a departed person after all: one frame
        after a cut can look unlike the person, a few frames later it may match."""
        if tr.signature is None:
            return
        tr.seen += 1
        mean = tr.signature + (self.describe(frame, seen.landmarks) - tr.signature) / tr.seen
        tr.signature = mean / np.linalg.norm(mean)
        if tr.fresh and tr.seen <= 4:
            tid = self._departed_match(tr.signature)
            if tid is not None:
                self.departed.pop(tid)
                tr.id, tr.fresh = tid, False

    @staticmethod
    def _unique(faces: list[Face]) -> list[Face]:
        """Drop repeats: windows around two nearby tracks can both contain the same face."""
        kept: list[Face] = []
        for f in sorted(faces, key=lambda f: -f.score):
            if all(np.linalg.norm(f.landmarks.mean(0) - k.landmarks.mean(0)) > 0.3 * k.size for k in kept):
                kept.append(f)
        return kept

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
                tr.landmarks, tr.mesh = np.where(ok[:, None], moved, tr.landmarks + shift), None

    def _follow(self, frame: np.ndarray, tracks: list[Track], refine: bool = False) -> None:
        """Each track's points from the landmark model, starting where they are now (optical flow's
        guess, or a detection). A face the model loses is looked for by the detector in a window
        around it, so a fast turn does not leave a frame unswapped; refine: the tracks were just
        detected in this frame, and one the model misses keeps the detector's points."""
        for tr in tracks:
            points = None
            found = self.follow(frame, tr.landmarks)
            if found is None and not refine:
                near = [f for f in detect_faces_near(frame, tr.landmarks.mean(0), tr.size, self.detector) if f.size >= self.min_face]
                if near:
                    face = nearest(near, tr.landmarks.mean(0))
                    found = self.follow(frame, face.landmarks)
                    points = face.landmarks
            if found is not None:
                points = found.points
            if points is None:
                tr.missed += not refine  # gone: a whole-frame scan looks for it next frame
                continue
            # the face's size follows its points' spread, at the detector's box-to-spread ratio (a ratio
            # to the last frame's points, flow-moved, compounds its errors: while a hand passed over
            # the face on the hamilton clip the size fell to a sixth of the face's in 12 frames)
            tr.size = tr.box_per_spread * spread(points)
            tr.landmarks, tr.mesh, tr.missed = points, None if found is None else found.mesh, 0
            if tr.fresh and tr.seen <= 4 and not refine and self.frame_index % self.detect_every == 0:
                # a new face, just after a cut: is it someone who left? Looked at as often as detections
                # would be, on the detector's points, which the departed signatures were made on
                near = detect_faces_near(frame, points.mean(0), tr.size, self.detector)
                if near:
                    self._look_again(frame, tr, nearest(near, points.mean(0)))

    def update(self, frame: np.ndarray) -> list[Track]:
        """frame (H, W, 3) uint8 RGB -> the faces tracked in it."""
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        cut = self._is_cut(gray)
        self.shot += cut
        due = self.frame_index % self.detect_every == 0
        lost = self.follow is not None and any(t.missed for t in self.tracks)  # a followed face vanished: scan now
        if cut or self.prev_gray is None or self.frame_index % self.scan_every == 0 or (not self.tracks and due) or lost:
            self._match(frame, detect_faces(frame, self.detector, min_size=self.min_face, max_side=self.max_side), cut=cut, scan=True)
            if self.follow is not None:  # one instrument for the points of every frame: no step at each scan
                self._follow(frame, [t for t in self.tracks if t.missed == 0], refine=True)
        elif self.follow is not None:
            self._flow(gray)  # how far each face moved since the last frame ...
            self._follow(frame, self.tracks)  # ... and the landmark model puts its points there precisely
        elif due:
            near = [f for tr in self.tracks for f in detect_faces_near(frame, tr.landmarks.mean(0), tr.size, self.detector)]
            self._match(frame, self._unique([f for f in near if f.size >= self.min_face]), cut=False, scan=False)
        else:
            self._flow(gray)
        self.prev_gray = gray
        self.frame_index += 1
        return [tr for tr in self.tracks if tr.missed == 0]
