"""dlib's 128-d face descriptor (face_recognition_models), for identity and Frechet-distance metrics.

Evaluation and benchmarks only: the app does not depend on dlib. Descriptors of the same person are
typically within 0.6 of each other (Euclidean), different people further apart.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import cv2
import numpy as np
from scipy import linalg

CHIP = 150  # dlib's descriptor network expects 150x150 face chips


def dlib_model_dir() -> Path:
    # face_recognition_models' __init__ imports pkg_resources (gone from recent setuptools);
    # locate its data folder without importing it.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face_recognition_models is not installed: pip install -r requirements-dev.txt")
    return Path(spec.submodule_search_locations[0]) / "models"


@functools.lru_cache(maxsize=1)
def dlib_models():
    import dlib

    d = dlib_model_dir()
    return (
        dlib.shape_predictor(str(d / "shape_predictor_5_face_landmarks.dat")),
        dlib.face_recognition_model_v1(str(d / "dlib_face_recognition_resnet_model_v1.dat")),
        dlib,
    )


def describe_crops(crops: np.ndarray | list[np.ndarray]) -> np.ndarray:
    """Aligned face crops (N, S, S, 3) uint8 RGB -> (N, 128) descriptors.

    The crops are already aligned by our template, so the whole (upscaled) crop minus a margin is
    given as the face rectangle; dlib's 5-point predictor then refines the landmarks for its chip.
    """
    predictor, encoder, dlib = dlib_models()
    out = []
    for crop in crops:
        img = cv2.resize(np.ascontiguousarray(crop), (CHIP, CHIP), interpolation=cv2.INTER_CUBIC)
        m = CHIP // 8
        shape = predictor(img, dlib.rectangle(m, m + CHIP // 16, CHIP - m, CHIP - m // 2))
        out.append(np.asarray(encoder.compute_face_descriptor(img, shape), dtype=np.float64))
    return np.stack(out) if out else np.zeros((0, 128))


def describe_faces_in_image(image: np.ndarray, landmarks5: np.ndarray) -> np.ndarray:
    """A face in a full image, given our 5 MTCNN landmarks -> (128,) descriptor (aligned by our
    template at 150 px, then as describe_crops)."""
    from pipelines.faces import align_face

    crop, _ = align_face(image, landmarks5, CHIP)
    return describe_crops([crop])[0]


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two sets of feature vectors (N, D), (M, D)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(s1 @ s2, disp=False)
    if not np.isfinite(covmean).all():
        eps = np.eye(len(s1)) * 1e-6
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
