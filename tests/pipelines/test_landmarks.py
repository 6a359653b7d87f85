"""Dense landmarks (the face mesh and its eyes) on real faces, and following a face from frame to frame with them."""

from __future__ import annotations

import imageio_ffmpeg
import numpy as np

from pipelines import landmarks as lm
from pipelines.faces import detect_faces
from pipelines.images import load_image

from ..conftest import VIDEOS, photo
from .conftest import SIDE, aligned


def test_landmarks_sit_on_the_face_and_refuse_a_non_face(landmarks):
    from pipelines.faces import CANONICAL_TEMPLATE

    points = landmarks(aligned("man_portrait_flags_720p.jpg"))
    assert points.shape == (478, 2) and np.isfinite(points).all()
    # the aligned crop puts the eyes and mouth corners on the template: the mesh must agree (within 4% of the side)
    eyes = [points[lm.IRIS["left"][0]], points[lm.IRIS["right"][0]]]
    assert np.abs(np.array(eyes) - CANONICAL_TEMPLATE[:2]).max() < 0.04
    assert np.abs(points[[61, 291]] - CANONICAL_TEMPLATE[3:]).max() < 0.04
    assert landmarks(np.full((SIDE, SIDE, 3), 128, np.uint8)) is None
    assert landmarks(load_image(photo("no_face_landscape.jpg"))[:SIDE, :SIDE]) is None


def test_following_a_face_keeps_it_where_the_detector_finds_it(landmarks):
    """A real clip: each frame's 5 points from the mesh on the face aligned where it was in the
    previous frame (DenseLandmarks.follow) stay within 6% of the face's size of MTCNN's own, every
    frame, and a frame with no face in it is lost, not followed."""
    reader = imageio_ffmpeg.read_frames(str(VIDEOS / "person_waving_frontal_short.mp4"))
    w, h = next(reader)["size"]
    frames = [np.frombuffer(raw, np.uint8).reshape(h, w, 3) for raw in reader]
    detected = [max(detect_faces(f), key=lambda f: f.size) for f in frames]
    points = detected[0].landmarks
    errors = []
    for frame, face in zip(frames[1:], detected[1:], strict=True):
        found = landmarks.follow(frame, points)
        assert found is not None and found.mesh.shape == (468, 2)
        points = found.points
        errors.append(np.linalg.norm(points - face.landmarks, axis=1).max() / face.size)
    assert max(errors) < 0.06, max(errors)
    assert landmarks.follow(np.full_like(frames[0], 128), detected[0].landmarks) is None
