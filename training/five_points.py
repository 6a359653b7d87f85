"""Fit the face mesh's stand-in for the detector's 5 points (pipelines/landmarks.py: FIVE_POINT_WEIGHTS).

    python -m training.five_points --videos ../shared/data/videos --faces ../shared/data/faces/part-000.tar

A video's faces are followed by the face mesh between detections, and the alignment template was
made on MTCNN's 5 points (eye centres, nose tip, mouth corners), so each of them is written as a
weighted mean of mesh points near it: MTCNN's point ~= sum_j w_j mesh_j with sum_j w_j = 1 (the
weights then move with the face under any similarity). Pairs come from every other frame of the
clips and the first --photos photos of the shard (faces of at least 60 px); the weights are the
least-squares fit on two thirds of the faces, pulled towards the plain mean of the candidates
(ridge), and the error is measured on the other third. Prints the weights and the errors in pixels
of a 128 crop (about 2 px: the detector's own frame-to-frame noise is of that order).
"""

from __future__ import annotations

import argparse
import io
import tarfile
from pathlib import Path

import numpy as np

# candidate mesh points for each of MTCNN's 5 points (MediaPipe's indices, pipelines/landmarks.py)
CANDIDATES = {
    "left eye": [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246],
    "right eye": [362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398],
    "nose": [1, 4, 5, 195, 2, 98, 327, 94, 19, 45, 275],
    "mouth left": [61, 78, 62, 76, 146, 185, 91, 40, 57, 43],
    "mouth right": [291, 308, 292, 306, 375, 409, 321, 270, 287, 273],
}
SIDE = 128


def pairs(images, detector, mesh) -> tuple[np.ndarray, np.ndarray]:
    """-> (N, 5, 2) MTCNN points and (N, 468, 2) mesh points, both in the pixels of the aligned 128 crop."""
    from pipelines.faces import align_face, detect_faces, transform_points

    five, dense = [], []
    for image in images:
        for face in detect_faces(image, detector):
            if face.size < 60:
                continue
            crop, matrix = align_face(image, face.landmarks, SIDE)
            points = mesh.face_mesh(crop)
            if points is not None:
                five.append(transform_points(face.landmarks, matrix))
                dense.append(points * SIDE)
    return np.array(five), np.array(dense)


def fit(target: np.ndarray, dense: np.ndarray, candidates: list[int], ridge: float) -> dict[int, float]:
    """Weights summing to 1 over `candidates` so that sum_j w_j dense[:, j] ~= target (N, 2)."""
    ref, others = candidates[0], candidates[1:]
    prior = np.full(len(others), 1.0 / len(candidates))  # the plain mean
    a = np.concatenate([dense[:, others, k] - dense[:, [ref], k] for k in (0, 1)])  # x and y rows share the weights
    b = np.concatenate([target[:, k] - dense[:, ref, k] for k in (0, 1)])
    lam = ridge * len(b)
    w = np.linalg.solve(a.T @ a + lam * np.eye(len(others)), a.T @ b + lam * prior)
    return dict(zip(candidates, np.r_[1.0 - w.sum(), w].tolist(), strict=True))


def main(argv=None) -> int:
    import imageio_ffmpeg
    from PIL import Image

    from pipelines.faces import default_detector
    from pipelines.landmarks import DenseLandmarks

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=Path, required=True, help="folder of clips")
    p.add_argument("--faces", type=Path, required=True, help="a .tar shard of face photos")
    p.add_argument("--photos", type=int, default=800)
    p.add_argument("--ridge", type=float, default=0.01)
    args = p.parse_args(argv)

    def images():
        for clip in sorted(args.videos.glob("*.mp4")):
            reader = imageio_ffmpeg.read_frames(str(clip))
            w, h = next(reader)["size"]
            for i, raw in enumerate(reader):
                if i % 2 == 0:
                    yield np.frombuffer(raw, np.uint8).reshape(h, w, 3)
        with tarfile.open(args.faces) as shard:
            members = [m for m in shard if m.isfile() and m.name.lower().endswith((".jpg", ".png"))][: args.photos]
            for m in members:
                yield np.asarray(Image.open(io.BytesIO(shard.extractfile(m).read())).convert("RGB"))

    five, dense = pairs(images(), default_detector(), DenseLandmarks())
    order = np.random.default_rng(0).permutation(len(five))
    train, test = order[: 2 * len(order) // 3], order[2 * len(order) // 3 :]
    print(f"{len(five)} faces: fitted on {len(train)}, measured on {len(test)} (pixels of a {SIDE} crop)\n")
    print("FIVE_POINT_WEIGHTS = [")
    errors = []
    for k, (name, candidates) in enumerate(CANDIDATES.items()):
        w = fit(five[train, k], dense[train], candidates, args.ridge)
        w = {j: round(v, 3) for j, v in w.items() if abs(v) >= 0.005}
        top = max(w, key=lambda j: abs(w[j]))
        w[top] = round(w[top] + 1.0 - sum(w.values()), 3)  # rounded, still summing to 1
        err = np.linalg.norm(sum(v * dense[test, j] for j, v in w.items()) - five[test, k], axis=1)
        plain = np.linalg.norm(dense[test][:, candidates].mean(1) - five[test, k], axis=1)
        errors.append((name, err.mean(), np.percentile(err, 95), plain.mean()))
        print("    {" + ", ".join(f"{j}: {v}" for j, v in sorted(w.items())) + "},  # " + name)
    print("]\n")
    for name, mean, p95, plain in errors:
        print(f"{name:12s} mean error {mean:.2f} px, 95th percentile {p95:.2f} px (the plain mean of the candidates: {plain:.2f} px)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
