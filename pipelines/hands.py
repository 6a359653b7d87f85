"""Hands in front of a face, found so that the swap keeps them: MediaPipe's palm detector and hand model.

A hand raised to the mouth, fingers counting in front of the chin, a fist round a microphone under
the lips: the face region (pipelines/blend.py) covers them all, and the swap painted the source's
face over them (the hamilton clip, frames 155-230). So, around each target face:

    view   = the image around the face, upright with it: a square twice the aligned crop's side, at
             192 px (the palm detector's input)
    palms  = the detector's boxes over 2016 fixed anchors (an SSD), each with 7 keypoints (the wrist,
             the knuckles), scored by a sigmoid, overlapping ones dropped
    joints = for each palm that reaches the face: its region turned so the fingers point up, 2.6
             times the palm's box, shifted towards the fingers, at 224 px -> 21 joints (the hand
             model) and its hand-presence score
    mask   = each kept hand drawn in the aligned crop: the palm's polygon and each finger's bones as
             thick lines (a finger is about a third of the palm's width), softened by a pixel

and the blend keeps the target's pixels under the mask (FaceSwapPipeline.blend). Only hands that
reach the face region count (reaches_face). In a video, a face's hands are followed from frame to
frame (HandTracker), so the palm detector, most of the cost, runs on every 2nd or 4th frame.
MediaPipe runs the same two models in its hand tracker; their anchors, box decoding and region rules
are theirs (palm_detection_cpu.pbtxt, hand_landmark_cpu.pbtxt in the mediapipe 0.10.14 wheel).
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from .blend import region_mask
from .faces import invert_matrix, native_crop_side, transform_points
from .landmarks import TfliteModel

MODELS = Path(__file__).resolve().parents[1] / "weights" / "hands"
PALM_SIDE = 192  # palm_detection_full.tflite: (1, 192, 192, 3) float32 RGB in [0, 1]
HAND_SIDE = 224  # hand_landmark_lite.tflite: (1, 224, 224, 3) float32 RGB in [0, 1]
VIEW_SPAN = 2.0  # the palm detector's view around a face, in aligned-crop sides (a hand under the chin is in it)
MIN_PALM_SCORE = 0.5  # MediaPipe's thresholds for a palm and for a hand's presence
MIN_HAND_SCORE = 0.5
PALM_OVERLAP = 0.3  # palms overlapping more than this (intersection over union) are one palm
MAX_HANDS = 4  # a face has at most a couple of hands in front of it; more palms are false ones
HAND_REGION = 2.6  # the hand model's region: this many palm boxes, shifted by half a box towards the fingers
TRACK_REGION = 2.0  # ... or, followed from the frame before, this many boxes around its palm joints
# in a video, the palm detector looks for new hands every this many frames of a face while it has
# hands in front of it, and every SEARCH_IDLE frames while it has none (the detector's view spans twice
# the face's crop, so a hand coming up is mostly seen on its way)
SEARCH_EVERY = 2
SEARCH_IDLE = 4
FINGER_WIDTH = 0.32  # a finger's width over the palm's (index to little finger knuckles)
FINGER_REACH = 1.5  # the fingers reach at most this many palm boxes past the palm's box
REACH_SIDE = 32  # a hand counts when it touches the face region drawn at this side (reaches_face)
# no hands are looked for around a face whose aligned crop spans fewer image pixels (a face under about
# 50 px): there the hand model laid a "hand" along a shadowed cheek (the hamilton clip's intro, a 51 px
# face, its crop 90 px), and a hand that small is barely seen painted over anyway
MIN_CROP_SPAN = 120

PALM = [0, 1, 2, 5, 9, 13, 17]  # the wrist, the thumb's base, the four knuckles: the palm's outline
FINGERS = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16], [17, 18, 19, 20]]  # joints, base to tip


def palm_anchors() -> np.ndarray:
    """(2016, 2) anchor centres in unit coordinates of the detector's view: 24 x 24 cells of 8 px
    with 2 anchors each, then 12 x 12 cells of 16 px with 6 (MediaPipe's SsdAnchorsCalculator with
    fixed anchor size: every anchor is 1 x 1, so only the centres matter)."""
    centres = []
    for stride, per_cell in ((8, 2), (16, 6)):
        cells = PALM_SIDE // stride
        ys, xs = np.mgrid[0:cells, 0:cells]
        xy = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], -1).reshape(-1, 1, 2)
        centres.append(np.repeat(xy, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(centres)


ANCHORS = palm_anchors()


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (4,) boxes x1, y1, x2, y2."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / max(union, 1e-12)


def decode_palms(raw: np.ndarray, logits: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The detector's outputs, (2016, 18) box offsets and keypoints in view pixels and (2016,) logits
    -> [(box (4,), keypoints (7, 2))] in unit view coordinates, most confident first, overlaps dropped
    (greedily: MediaPipe averages overlapping boxes instead; the hand model re-finds the hand either way)."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -100, 100)))
    palms: list[tuple[np.ndarray, np.ndarray]] = []
    for i in np.argsort(-scores):
        if scores[i] <= MIN_PALM_SCORE or len(palms) == MAX_HANDS:
            break
        centre, size = raw[i, :2] / PALM_SIDE + ANCHORS[i], raw[i, 2:4] / PALM_SIDE
        box = np.concatenate([centre - size / 2, centre + size / 2])
        if any(_overlap(box, kept) > PALM_OVERLAP for kept, _ in palms):
            continue
        palms.append((box, raw[i, 4:18].reshape(7, 2) / PALM_SIDE + ANCHORS[i]))
    return palms


def _upright(centre: np.ndarray, side: float, wrist: np.ndarray, towards: np.ndarray) -> np.ndarray:
    """(2, 3) the map from image pixels to the hand model's input: a square of `side` pixels around
    `centre`, turned so the line from the wrist towards the fingers (`towards`) points up."""
    angle = np.pi / 2 - np.arctan2(-(towards[1] - wrist[1]), towards[0] - wrist[0])  # radians, the turn to upright
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(np.degrees(angle)), HAND_SIDE / max(side, 1e-6))
    matrix[:, 2] += HAND_SIDE / 2 - centre
    return matrix


def _fingers_up(wrist: np.ndarray, towards: np.ndarray) -> np.ndarray:
    """(2,) unit vector from the wrist towards the fingers."""
    v = np.asarray(towards, np.float64) - wrist
    return v / max(float(np.hypot(*v)), 1e-6)


def palm_region(box: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """A palm (box (4,), keypoints (7, 2) in image pixels) -> (2, 3) image -> hand model input: the hand
    upright (wrist -> middle knuckle up), HAND_REGION boxes wide, centred half a box from the palm's
    centre towards the fingers (MediaPipe's palm-to-hand rule)."""
    wrist, knuckle = keypoints[0], keypoints[2]
    size = float(max(box[2] - box[0], box[3] - box[1]))
    centre = (box[:2] + box[2:]) / 2 + 0.5 * size * _fingers_up(wrist, knuckle)
    return _upright(centre, HAND_REGION * size, wrist, knuckle)


def joints_region(joints: np.ndarray) -> np.ndarray:
    """A hand's (21, 2) joints in one frame -> (2, 3) image -> hand model input for the next (MediaPipe's
    tracking rule): the palm's joints and the fingers' first bones boxed in the hand's upright frame,
    twice that box, shifted a tenth of it towards the fingers."""
    wrist = joints[0]
    towards = (joints[9] + (joints[5] + joints[13]) / 2) / 2  # the middle knuckle, steadied by its neighbours
    up = _fingers_up(wrist, towards)
    right = np.array([-up[1], up[0]])
    points = joints[[0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18]]
    across, along = points @ right, points @ up
    centre = (across.min() + across.max()) / 2 * right + (along.min() + along.max()) / 2 * up
    side = max(np.ptp(across), np.ptp(along))
    return _upright(centre + 0.1 * side * up, TRACK_REGION * side, wrist, towards)


class HandFinder:
    """image (H, W, 3) uint8 RGB and a face's alignment (image -> S crop matrix) -> the hands in front of
    or beside that face, each (21, 2) joints in image pixels (MediaPipe's order: wrist, thumb, index,
    middle, ring, little finger, base to tip)."""

    def __init__(self, models: Path = MODELS, threads: int = 1):
        self.palms = TfliteModel(Path(models) / "palm_detection_full.tflite", threads)
        self.joints = TfliteModel(Path(models) / "hand_landmark_lite.tflite", threads)

    def __call__(self, image: np.ndarray, matrix: np.ndarray, size: int) -> list[np.ndarray]:
        if native_crop_side(matrix, size) < MIN_CROP_SPAN:
            return []
        # image -> the detector's view: the aligned crop's square scaled about its centre to VIEW_SPAN sides
        zoom = PALM_SIDE / (VIEW_SPAN * size)
        to_view = np.asarray(matrix, np.float64) * zoom
        to_view[:, 2] += PALM_SIDE / 2 - zoom * size / 2
        view = _warp(image, to_view, PALM_SIDE)
        raw, logits = self.palms(view.astype(np.float32)[None] / 255.0)
        from_view = invert_matrix(to_view)
        hands = []
        crop = np.array([0.5 - 0.5 / VIEW_SPAN, 0.5 + 0.5 / VIEW_SPAN])  # the aligned crop's span in the view, unit coordinates
        for box, keypoints in decode_palms(raw.reshape(-1, 18), logits.ravel()):
            reach = box + np.array([-1, -1, 1, 1]) * FINGER_REACH * (box[2:] - box[:2]).max()  # where its fingers may be
            if reach[0] > crop[1] or reach[1] > crop[1] or reach[2] < crop[0] or reach[3] < crop[0]:
                continue  # a hand that cannot reach the face (waving beside it): not looked at
            corners = transform_points(np.array([box[:2], box[2:], [box[0], box[3]], [box[2], box[1]]]) * PALM_SIDE, from_view)
            box_px = np.concatenate([corners.min(0), corners.max(0)])  # the palm's box in image pixels
            joints = self.hand(image, palm_region(box_px, transform_points(keypoints * PALM_SIDE, from_view)))
            if joints is not None and reaches_face(joints, matrix, size):
                hands.append(joints)
        return hands

    def hand(self, image: np.ndarray, to_hand: np.ndarray) -> np.ndarray | None:
        """The hand model on one region (to_hand: image -> its input) -> (21, 2) joints in image
        pixels, or None when it sees no hand there."""
        patch = cv2.warpAffine(image, to_hand, (HAND_SIDE, HAND_SIDE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        joints, presence, _, _ = self.joints(patch.astype(np.float32)[None] / 255.0)
        if presence[0] <= MIN_HAND_SCORE:
            return None
        return transform_points(joints.reshape(21, 3)[:, :2], invert_matrix(to_hand))


class HandTracker:
    """A video's hands in front of each face, followed from frame to frame as MediaPipe's hand tracker
    follows them: the palm detector (most of the cost) looks around a face every `every` frames while
    the face has hands in front of it or had them in its last `idle` frames (every `idle` frames
    otherwise); in between, and for a
    hand the search missed (blurred by its motion), each hand found is looked for again by the hand
    model alone, in the region its joints give. Frames of a face must come in order (the video's
    reading thread). On the hamilton clip, a search every 4th frame left a quarter of the hand pixels
    a search on every frame finds (fingers held up, a fist lost), every 2nd 15%.
    """

    def __init__(self, finder: HandFinder, every: int = SEARCH_EVERY, idle: int = SEARCH_IDLE):
        self.finder, self.every, self.idle = finder, every, idle
        # face -> (its hands, frames since the last search, frames since it last had hands)
        self.known: dict[object, tuple[list[np.ndarray], int, int]] = {}

    def __call__(self, image: np.ndarray, face: object, matrix: np.ndarray, size: int) -> list[np.ndarray]:
        """face: what identifies it from frame to frame (the tracker's track id)."""
        known, since, unseen = self.known.get(face, ([], self.idle - 1, self.idle))  # a new face: searched at once
        since += 1
        # searched often while the face has hands, or had them lately (a fist the hand model lost between searches)
        search = since >= (self.every if unseen < self.idle else self.idle)
        found = self.finder(image, matrix, size) if search else []  # a search: new hands come in
        missed = [joints for joints in known if not any(same_hand(joints, f) for f in found)]  # (a blurred one)
        followed = (self.finder.hand(image, joints_region(joints)) for joints in missed)
        hands = found + [h for h in followed if h is not None and reaches_face(h, matrix, size)]
        self.known[face] = (hands, 0 if search else since, 0 if hands else unseen + 1)
        return hands


def same_hand(a: np.ndarray, b: np.ndarray) -> bool:
    """True when two hands' (21, 2) joints are one hand: their palms' centres closer than a palm's width."""
    width = max(float(np.hypot(*(a[5] - a[17]))), float(np.hypot(*(b[5] - b[17]))))
    return float(np.hypot(*(a[PALM].mean(0) - b[PALM].mean(0)))) < width


@functools.lru_cache(maxsize=1)
def _face_zone() -> np.ndarray:
    """(REACH_SIDE, REACH_SIDE) bool: the template's face region, grown by a cell (3% of the side)."""
    region = region_mask(("face",), REACH_SIDE) > 0
    return cv2.dilate(region.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0


def reaches_face(joints: np.ndarray, matrix: np.ndarray, size: int) -> bool:
    """True when a hand's (21, 2) joints (image pixels), drawn as hand_mask draws them, touch the face
    region of the aligned crop (matrix: image -> S crop), as the template places it. A hand below the
    chin or beside the face is left out: it cannot be painted over, and following it costs a hand
    model run a frame."""
    coarse = np.array([[REACH_SIDE / size, 0, 0], [0, REACH_SIDE / size, 0]]) @ np.vstack([matrix, [0, 0, 1]])
    return bool(((hand_mask([joints], coarse, REACH_SIDE) > 0.5) & _face_zone()).any())


def _warp(image: np.ndarray, matrix: np.ndarray, side: int) -> np.ndarray:
    """The image through matrix at side px, averaged over 2 x 2 samples when it shrinks (the detector's
    view spans 500-1500 image pixels in a close-up; unfiltered, fine stripes alias). Not
    faces.warp_to_crop: its full area average (up to 8 x 8 samples) costs some 5 ms more a face here,
    for a detector that needs no more than this."""
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    factor = 2 if scale < 0.5 else 1
    view = cv2.warpAffine(image, matrix * factor, (side * factor, side * factor), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return view if factor == 1 else cv2.resize(view, (side, side), interpolation=cv2.INTER_AREA)


def hand_mask(hands: list[np.ndarray], matrix: np.ndarray, side: int) -> np.ndarray:
    """Hands ((21, 2) image pixels each, HandFinder) and an image -> crop matrix (2, 3) at `side` px ->
    (side, side) float32 in [0, 1]: 1 on the hands (palm polygon, fingers as thick lines), softened
    over about a pixel. Zeros when there are none."""
    mask = np.zeros((side, side), np.uint8)
    for joints in hands:
        points = transform_points(joints, matrix)
        width = FINGER_WIDTH * float(np.hypot(*(points[5] - points[17])))
        thickness = max(1, round(width))
        cv2.fillPoly(mask, [np.round(points[PALM]).astype(np.int32)], 255)
        for finger in FINGERS:
            cv2.polylines(mask, [np.round(points[finger]).astype(np.int32)], False, 255, thickness)
    if not mask.any():
        return mask.astype(np.float32)
    return cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 1.0)
