"""Dense face landmarks: MediaPipe's 468-point face mesh, its eyes refined by its iris model, run with
ai-edge-litert (TFLite) on our own aligned face crop, so no second face detector runs.

Both models are MediaPipe's (Apache-2.0), shipped unchanged in weights/landmarks/ from the mediapipe
0.10.14 wheel (origin and SHA-256 in its README). Our 5-point alignment already is the upright, scaled
face crop the mesh model expects: about 2 ms a face for the mesh, 4 ms with both eyes.

Used for the target's expression (pipelines/expression.py) and to follow faces from frame to frame in
a video (pipelines/tracking.py: `DenseLandmarks.follow`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from .faces import align_face, invert_matrix, transform_points

MODELS = Path(__file__).resolve().parents[1] / "weights" / "landmarks"
MODEL_SIDE = 192  # face_landmark.tflite's input: (1, 192, 192, 3) float32 RGB in [0, 1]
EYE_SIDE = 64  # iris_landmark.tflite's input: one eye, (1, 64, 64, 3) float32 RGB in [0, 1]
EYE_ROI = 2.3  # the eye crop's side over the distance between the eye's corners (MediaPipe's)
MIN_FACE_SCORE = 0.0  # the model's face-presence logit below which the mesh is not trusted
# ... and below which a followed face counts as lost (DenseLandmarks.follow). A face the mesh holds
# scores 10-26 on the repo's clips; a mesh that slid off a face (a hand passing over it, a fast
# turn) scores 0.4-10 and, accepted, drifts further every frame until the next whole-frame scan
# (hamilton clip, frames 167-179: the swapped face pasted on the forehead and above it).
FOLLOW_MIN_SCORE = 8.0

# Contours of the 468-point mesh (MediaPipe's indices), in order around each shape.
LIPS_OUTER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185]
LIPS_INNER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191]
# The mesh's silhouette, in order around the face: forehead at the hairline, temples, jaw line, chin.
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150,
             136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]  # fmt: skip
# the eye on the image's left (the person's right), then the other; lid margins, corners first
EYE_LEFT = [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246]
EYE_RIGHT = [362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398]
EYE_LIDS = {"left": EYE_LEFT, "right": EYE_RIGHT}
EYE_CORNERS = {"left": (33, 133), "right": (362, 263)}
LOWER_LIP_CENTRE, CHIN = 17, 152
# the eye model's 71 contour points (lids, then rings around them, then the brow) as mesh indices,
# for the eye on the image's left; the other eye's crop is mirrored to look like this one
EYE_MODEL_POINTS = {
    "left": [33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173, 130, 25, 110, 24, 23, 22, 26,
             112, 243, 247, 30, 29, 27, 28, 56, 190, 226, 31, 228, 229, 230, 231, 232, 233, 244, 113, 225, 224, 223, 222,
             221, 189, 35, 124, 46, 53, 52, 65, 143, 111, 117, 118, 119, 120, 121, 128, 245, 156, 70, 63, 105, 66, 107,
             55, 193],
    "right": [263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398, 359, 255, 339, 254, 253,
              252, 256, 341, 463, 467, 260, 259, 257, 258, 286, 414, 446, 261, 448, 449, 450, 451, 452, 453, 464, 342,
              445, 444, 443, 442, 441, 413, 265, 353, 276, 283, 282, 295, 372, 340, 346, 347, 348, 349, 350, 357, 465,
              383, 300, 293, 334, 296, 336, 285, 417],
}  # fmt: skip
IRIS = {"left": list(range(468, 473)), "right": list(range(473, 478))}  # centre, then 4 points on the rim

# The detector's 5 points (eye centres, nose tip, mouth corners: MTCNN's, which the alignment template
# was made on) as weighted means of mesh points near each, fitted by `python -m training.five_points`
# on 1,085 faces (the repo's clips, CelebA photos); the weights of each sum to 1, so they move with
# the face under any similarity. Held-out error in a 128 crop: 1.3-1.9 px (mean), 3-4.8 px (95th
# percentile), about the detector's own frame-to-frame noise.
FIVE_POINT_WEIGHTS: list[dict[int, float]] = [
    # left eye
    {7: -0.363, 33: 1.553, 133: 0.369, 144: -0.801, 145: 0.898, 153: 1.192, 154: -0.287, 155: -0.926, 157: 1.026, 158: 0.301,
     159: -0.096, 160: -0.513, 161: -0.308, 163: -0.51, 173: -0.385, 246: -0.15},
    # right eye
    {249: 0.533, 263: 0.88, 362: 0.543, 373: -0.356, 374: -0.078, 380: -0.021, 381: 0.019, 382: -0.173, 384: 0.348, 385: 0.558,
     386: -0.088, 387: -0.624, 388: -0.545, 390: 0.055, 398: -0.166, 466: 0.115},
    # nose
    {1: 1.399, 2: 0.179, 4: -0.4, 5: -0.303, 19: 0.086, 45: -0.629, 94: 0.265, 98: -0.035, 195: 0.788, 275: -0.242, 327:
     -0.108},
    # mouth left
    {40: 0.172, 43: 0.406, 57: 0.043, 61: 0.772, 62: 0.844, 76: 0.994, 78: 0.151, 91: 0.345, 146: -1.572, 185: -1.155},
    # mouth right
    {270: -0.187, 273: 0.303, 287: -0.009, 291: 1.125, 292: 0.101, 306: -0.18, 308: 0.548, 321: -0.063, 375: -0.379, 409:
     -0.259},
]  # fmt: skip
FIVE_POINTS = np.zeros((5, 468))  # (5, 468): five points = FIVE_POINTS @ mesh (468, 2)
for _row, _weights in enumerate(FIVE_POINT_WEIGHTS):
    FIVE_POINTS[_row, list(_weights)] = list(_weights.values())


class Followed(NamedTuple):
    """A face found again in a new frame (DenseLandmarks.follow), in frame pixels."""

    points: np.ndarray  # (5, 2) the detector's 5 points (FIVE_POINTS)
    mesh: np.ndarray  # (468, 2) the whole mesh, kept for the expression (pipelines/expression.py)


class TfliteModel:
    """One TFLite model (ai-edge-litert): (1, s, s, 3) float32 in -> its outputs, flattened. Used by
    one thread at a time (an interpreter is not thread-safe; the app serves requests in threads)."""

    def __init__(self, path: Path, threads: int = 1):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:  # its wheels cover Linux, Windows and Apple-silicon macOS (requirements.txt)
            raise RuntimeError(
                "keeping the target's expression needs the TFLite runtime: pip install ai-edge-litert==2.3.0 "
                "(or swap with expression='source')"
            ) from None

        if not path.is_file():
            raise FileNotFoundError(f"landmark model not found: {path}")
        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.outputs = [d["index"] for d in self.interpreter.get_output_details()]
        self.lock = threading.Lock()

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        with self.lock:
            self.interpreter.set_tensor(self.input, x)
            self.interpreter.invoke()
            return [self.interpreter.get_tensor(i).ravel().copy() for i in self.outputs]


class DenseLandmarks:
    """aligned face crop (s, s, 3) uint8 RGB -> (478, 2) float64 landmarks in unit crop coordinates
    (MediaPipe's 468-point mesh with its eyes refined, then 5 iris points per eye), or None when the
    model does not see a face.

    The mesh model sees the whole aligned crop at 192 px, where an eye is some 20 px wide: too coarse
    to tell an open eye from a closed one. So, as MediaPipe does, each eye is cropped again around its
    corners (2.3 times their distance) at 64 px for the eye model, whose lids replace the mesh's."""

    def __init__(self, models: Path = MODELS, threads: int = 1):
        self.mesh = TfliteModel(Path(models) / "face_landmark.tflite", threads)
        self.eyes = TfliteModel(Path(models) / "iris_landmark.tflite", threads)

    def __call__(self, crop: np.ndarray, mesh: np.ndarray | None = None) -> np.ndarray | None:
        """mesh: this crop's (468, 2) mesh in unit coordinates when it is known already (a video's
        tracker ran the model on the frame, see follow), so only the eyes are looked at."""
        side = crop.shape[0]
        mesh = self.face_mesh(crop) if mesh is None else mesh
        if mesh is None:
            return None
        points = np.zeros((478, 2))
        points[:468] = mesh
        for eye, (a, b) in EYE_CORNERS.items():
            contour, iris = self.eye(crop, points[a] * side, points[b] * side, mirror=eye == "right")
            points[EYE_MODEL_POINTS[eye]] = contour / side
            points[IRIS[eye]] = iris / side
        return points

    def face_mesh(self, crop: np.ndarray, min_score: float = MIN_FACE_SCORE, depth: bool = False) -> np.ndarray | None:
        """The mesh alone: aligned crop (s, s, 3) uint8 -> (468, 2) unit crop coordinates, or None
        when the model's face-presence logit is at most min_score. depth: (468, 3), the third
        column each point's depth on the same scale (larger: further from the camera)."""
        side = crop.shape[0]
        if side != MODEL_SIDE:
            interpolation = cv2.INTER_AREA if side > MODEL_SIDE else cv2.INTER_LINEAR
            crop = cv2.resize(crop, (MODEL_SIDE, MODEL_SIDE), interpolation=interpolation)
        mesh, score = self.mesh(crop.astype(np.float32)[None] / 255.0)
        if score[0] <= min_score:
            return None
        return mesh.reshape(468, 3)[:, : 3 if depth else 2] / MODEL_SIDE

    def follow(self, frame: np.ndarray, landmarks: np.ndarray) -> Followed | None:
        """A face's 5 points in `frame` (H, W, 3) found from where they were (`landmarks` (5, 2), e.g.
        the previous frame's) -> its 5 points and whole mesh in frame pixels, or None when the mesh
        sees no face there.

        The face is aligned at its old place, straight at the mesh's side, and the mesh finds it
        there as long as it moved less than about a third of its size; FIVE_POINTS turns the mesh
        into the detector's 5 points, so the alignment template and everything built on it hold."""
        crop, matrix = align_face(frame, landmarks, MODEL_SIDE)
        mesh = self.face_mesh(crop, FOLLOW_MIN_SCORE)
        if mesh is None:
            return None
        mesh = transform_points(mesh * MODEL_SIDE, invert_matrix(matrix))
        return Followed(FIVE_POINTS @ mesh, mesh)

    def eye(self, crop: np.ndarray, a: np.ndarray, b: np.ndarray, mirror: bool) -> tuple[np.ndarray, np.ndarray]:
        """One eye, its corners a -> b (pixels, left to right in the image) -> its (71, 2) contour and
        (5, 2) iris points in crop pixels."""
        centre, gap = (a + b) / 2, float(np.hypot(*(b - a)))
        angle = float(np.degrees(np.arctan2(b[1] - a[1], b[0] - a[0])))
        scale = EYE_SIDE / max(EYE_ROI * gap, 1e-6)
        to_eye = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, scale)  # crop -> eye pixels
        to_eye[:, 2] += EYE_SIDE / 2 - centre
        if mirror:  # the model knows one eye: the other is shown to it mirrored
            to_eye = np.array([[-1.0, 0.0, EYE_SIDE], [0.0, 1.0, 0.0]]) @ np.vstack([to_eye, [0.0, 0.0, 1.0]])
        patch = cv2.warpAffine(crop, to_eye, (EYE_SIDE, EYE_SIDE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        contour, iris = self.eyes(patch.astype(np.float32)[None] / 255.0)
        back = cv2.invertAffineTransform(to_eye)

        def to_crop(p: np.ndarray) -> np.ndarray:
            xy = p.reshape(-1, 3)[:, :2].astype(np.float64)
            return xy @ back[:, :2].T + back[:, 2]

        return to_crop(contour), to_crop(iris)
