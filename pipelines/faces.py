"""Face detection (facenet-pytorch MTCNN), 5-point alignment and paste-back geometry.

One implementation serves training (training/prepare.py) and inference (pipelines/swap.py), so a
face crop means the same thing everywhere. Geometry functions are pure: arrays in, arrays out.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
import torch

# Canonical positions of the 5 landmarks (left eye, right eye, nose tip, left and right mouth
# corners, as seen in the image) in a unit square. This is the ArcFace 112x112 template
# (insightface), zoomed out to 75% so the crop also holds the forehead, cheeks and chin: the swap
# replaces the inner face and keeps the target's surroundings, which must be in the crop.
_ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
TEMPLATE_ZOOM = 0.75
CANONICAL_TEMPLATE = (_ARCFACE_112 / 112.0 - 0.5) * TEMPLATE_ZOOM + 0.5  # (5, 2) in [0, 1]

# Faces are detected on a copy whose longer side is at most this; MTCNN's image pyramid on a
# 12 MP photo would take seconds and find nothing more at the sizes we can swap.
DETECTION_MAX_SIDE = 800
MIN_DETECTABLE = 24  # pixels; MTCNN's first stage scans 12-pixel windows of a 20-pixel minimum face


@dataclass(frozen=True)
class Face:
    box: np.ndarray  # (4,) float x1, y1, x2, y2 in image pixels
    landmarks: np.ndarray  # (5, 2) float: left eye, right eye, nose, left and right mouth corner
    score: float  # detector confidence in [0, 1]

    @property
    def size(self) -> float:
        """Geometric mean of the box sides, in pixels."""
        w, h = self.box[2] - self.box[0], self.box[3] - self.box[1]
        return float(np.sqrt(max(w, 0.0) * max(h, 0.0)))


@functools.lru_cache(maxsize=4)
def default_detector(device: str | torch.device | None = None):
    """The MTCNN detector on a device (pipelines/device.py); its weights ship inside facenet-pytorch."""
    from facenet_pytorch import MTCNN

    from .device import choose_device

    detector = MTCNN(keep_all=True, device=choose_device(device), min_face_size=20, post_process=False)
    return channels_last(detector)


def channels_last(detector):
    """The detector's three networks with channels-last weights, so their activations follow.

    torch's CPU max-pooling with ceil_mode is 3-14x slower on (N, C, H, W) activations than on
    channels-last ones (the same values); the whole detector runs 15% faster (174 against 205 ms for
    a 1 MP pair, session 24), and its boxes and points agree within 1e-3 px on the 39 test photos.
    """
    for name in ("pnet", "rnet", "onet"):
        setattr(detector, name, getattr(detector, name).to(memory_format=torch.channels_last))
    return detector


def detect_faces(
    image: np.ndarray, detector=None, min_score: float = 0.9, min_size: float = 0.0, max_side: int = DETECTION_MAX_SIDE
) -> list[Face]:
    """(H, W, 3) uint8 RGB -> faces, most confident first.

    `min_size` drops faces whose box is smaller (geometric mean of its sides, in pixels); detection
    runs on a copy whose longer side is at most `max_side`.
    """
    import torch

    detector = detector or default_detector()
    h, w = image.shape[:2]
    if min(h, w) < MIN_DETECTABLE:
        return []  # below MTCNN's smallest window: no face can be found (and its pyramid would fail)
    scale = min(1.0, max_side / max(h, w))
    small = image if scale == 1.0 else cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    with torch.inference_mode():
        boxes, probs, points = detector.detect(small, landmarks=True)
    if boxes is None:
        return []
    faces = [
        Face(box=np.asarray(b, np.float64) / scale, landmarks=np.asarray(p, np.float64) / scale, score=float(s))
        for b, s, p in zip(boxes, probs, points, strict=False)
        if s is not None and s >= min_score
    ]
    faces = [f for f in faces if f.size >= min_size]
    return sorted(faces, key=lambda f: -f.score)


def detect_faces_near(
    image: np.ndarray,
    center: np.ndarray,
    size: float,
    detector=None,
    min_score: float = 0.9,
    context: float = 2.0,
    face_side: float = 100.0,
) -> list[Face]:
    """Faces inside the square of side context * size around center (x, y), in image coordinates.

    The square is resized so a face of `size` pixels spans about face_side: re-detecting a face
    whose position is known then costs the same on a 4K frame as on a thumbnail (video tracking).
    """
    h, w = image.shape[:2]
    half = context * size / 2
    x0, y0 = max(0, int(center[0] - half)), max(0, int(center[1] - half))
    x1, y1 = min(w, int(center[0] + half) + 1), min(h, int(center[1] + half) + 1)
    if min(x1 - x0, y1 - y0) < MIN_DETECTABLE:
        return []
    scale = min(1.0, face_side / max(size, 1.0))
    faces = detect_faces(image[y0:y1, x0:x1], detector, min_score, max_side=max(MIN_DETECTABLE, round(max(x1 - x0, y1 - y0) * scale)))
    shift = np.array([x0, y0], np.float64)
    return [Face(box=f.box + np.tile(shift, 2), landmarks=f.landmarks + shift, score=f.score) for f in faces]


def alignment_matrix(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(5, 2) landmarks in the image -> (2, 3) similarity transform image -> SxS crop."""
    target = CANONICAL_TEMPLATE * size
    matrix, _ = cv2.estimateAffinePartial2D(np.asarray(landmarks, np.float64), target, method=cv2.LMEDS)
    if matrix is None:  # degenerate landmarks (all on a line): fall back to least squares
        matrix = _umeyama_similarity(np.asarray(landmarks, np.float64), target)
    return matrix


def _umeyama_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform src -> dst, (2, 3) (Umeyama 1991)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(d.T @ s / len(src))
    r = u @ np.diag([1.0, np.sign(np.linalg.det(u @ vt))]) @ vt
    scale = (sig * [1.0, np.sign(np.linalg.det(u @ vt))]).sum() / max(s.var(0).sum(), 1e-12)
    m = np.zeros((2, 3))
    m[:, :2] = scale * r
    m[:, 2] = mu_d - scale * r @ mu_s
    return m


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Warp the face with these landmarks to the canonical template.

    Returns (crop, matrix): crop (S, S, 3) uint8, matrix (2, 3) image -> crop.
    """
    matrix = alignment_matrix(landmarks, size)
    return warp_to_crop(image, matrix, size), matrix


def warp_to_crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) image through a (2, 3) image -> crop matrix -> (S, S, 3) crop. When the face is
    larger than the crop, the warp goes to an integer multiple of S first and is then area-averaged
    down, so a 400-pixel face does not alias into a 64-pixel crop. That warp is bilinear: the
    averaging filters it, and cubic would cost 4x as much for a crop no different (0.03 px in the
    face mesh's points, pipelines/landmarks.py); at 1:1, cubic keeps the detail."""
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))  # crop pixels per image pixel
    factor = max(1, min(8, int(np.floor(1.0 / max(scale, 1e-6)))))
    interpolation = cv2.INTER_LINEAR if factor > 1 else cv2.INTER_CUBIC
    crop = cv2.warpAffine(image, matrix * factor, (size * factor, size * factor), flags=interpolation, borderMode=cv2.BORDER_REPLICATE)
    if factor > 1:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return crop


def native_crop_side(matrix: np.ndarray, size: int) -> float:
    """Side, in pixels, that the S x S crop of this (2, 3) matrix covers in the image: the crop
    side at which one crop pixel is one image pixel."""
    return size / max(float(np.sqrt(abs(np.linalg.det(matrix[:, :2])))), 1e-6)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(N, 2) points through a (2, 3) affine matrix."""
    points = np.asarray(points, np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def invert_matrix(matrix: np.ndarray) -> np.ndarray:
    """(2, 3) affine -> its inverse, (2, 3)."""
    return cv2.invertAffineTransform(np.asarray(matrix, np.float64))


def paste_back(image: np.ndarray, crop: np.ndarray, mask: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Blend an (S, S, 3) crop back into a copy of `image` through the inverse of `matrix`.

    mask: (S, S) float in [0, 1], the weight of the crop. Pixels the warped mask does not touch
    (weight exactly 0) are returned bit-identical to `image`; `image` itself is not modified.
    Only the box the warped mask covers is processed, so cost scales with the face, not the photo.
    """
    h, w = image.shape[:2]
    size = crop.shape[0]
    inverse = invert_matrix(matrix)
    # only the part of the crop the mask covers (a face region is half the crop or less), grown by 2
    # pixels: bilinear weights reach one pixel beyond it
    seen = mask >= 1 / 512  # a smaller weight moves no uint8 pixel by half a level: the result is the same
    rows, cols = np.flatnonzero(seen.any(axis=1)), np.flatnonzero(seen.any(axis=0))
    if len(rows) == 0:
        return image.copy()
    u0, v0 = max(cols[0] - 2, 0), max(rows[0] - 2, 0)
    u1, v1 = min(cols[-1] + 3, size), min(rows[-1] + 3, size)
    corners = transform_points(np.array([[u0, v0], [u1, v0], [u0, v1], [u1, v1]], np.float64), inverse)
    x0, y0 = np.floor(corners.min(0)).astype(int) - 1
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    out = image.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    shifted = inverse.copy()
    shifted[:, 2] -= (x0, y0)  # crop -> box-local coordinates
    box = (x1 - x0, y1 - y0)
    warped = cv2.warpAffine(crop, shifted, box, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    weight = cv2.warpAffine(mask.astype(np.float32), shifted, box, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    weight = np.clip(weight, 0.0, 1.0)
    # region * (1 - weight) + warped * weight, rounded; a weight of exactly 0 returns region's pixel.
    out[y0:y1, x0:x1] = cv2.blendLinear(out[y0:y1, x0:x1], warped, 1.0 - weight, weight)
    return out
