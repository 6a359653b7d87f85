"""Head pose from the 5 MTCNN landmarks: roll, and a yaw proxy good enough to tell frontal,
three-quarter and profile apart, and which way a face looks.

    roll = angle of the line from the left to the right eye (degrees, image coordinates)
    yaw  = (nose x - eye-midpoint x) / eye distance, measured along the eye line (un-rolled)

A frontal face has its nose tip between the eyes (yaw ~ 0); turning the head moves the nose towards
one eye while the visible eye distance shrinks, so |yaw| grows fast: about 0.1 at 15 degrees,
0.3-0.5 for a three-quarter view, above 0.6 in profile. The sign says which side of the image the
face turns to (positive: the nose points to the image's right).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

THREE_QUARTER = 0.3  # |yaw| above this: the far half of the face is foreshortened or hidden
PROFILE = 0.6  # |yaw| above this: the far half is not visible
MAX_YAW_GAP = 0.45  # source and target yaws further apart than this make a poor swap


@dataclass(frozen=True)
class Pose:
    yaw: float  # see the module docstring; 0 = frontal
    roll: float  # degrees

    @property
    def view(self) -> str:
        """'frontal', 'three-quarter' or 'profile'."""
        a = abs(self.yaw)
        return "profile" if a > PROFILE else "three-quarter" if a > THREE_QUARTER else "frontal"


def estimate_pose(landmarks: np.ndarray) -> Pose:
    """(5, 2) landmarks: left eye, right eye, nose, left and right mouth corners (as seen) -> Pose."""
    p = np.asarray(landmarks, np.float64)
    left, right, nose = p[0], p[1], p[2]
    axis = right - left
    distance = float(np.hypot(*axis))
    if distance < 1e-6:
        return Pose(yaw=0.0, roll=0.0)
    roll = float(np.degrees(np.arctan2(axis[1], axis[0])))
    along = float((nose - (left + right) / 2) @ (axis / distance))  # nose offset along the eye line
    return Pose(yaw=along / distance, roll=roll)


def pose_warning(source: Pose, target: Pose, rebuilt: bool = False) -> str | None:
    """A plain-words warning when the two poses make a poor swap, else None. rebuilt: the source's
    hidden half is rebuilt from its visible one (choose_view), which always shows (a three-quarter
    source onto a frontal target, 0.40 apart, came out a flat, mirrored face with no word said)."""
    if not rebuilt and abs(source.yaw - target.yaw) <= MAX_YAW_GAP:
        return None
    return (
        f"the source face is a {source.view} view and the target a {target.view} view: the poses differ too much "
        "for a faithful swap, so the result is approximate; a source photo with the head turned like the target's works best"
    )


def choose_view(source: Pose, target: Pose) -> tuple[bool, bool, str | None]:
    """How to use a source face on a target face -> (mirror, complete, warning).

    mirror: flip the source left-right when that brings its yaw closer to the target's (a face
    looking the other way). complete: rebuild the source's hidden half from its visible half
    (a mirror image about the face's midline) when the source is turned much further than the
    target, so a three-quarter or profile source never leaves half a face of background.
    warning: plain words when the poses still differ too much for a faithful swap."""
    mirror = abs(-source.yaw - target.yaw) + 0.1 < abs(source.yaw - target.yaw)
    yaw = -source.yaw if mirror else source.yaw
    complete = abs(yaw) > THREE_QUARTER and abs(yaw) - abs(target.yaw) > MAX_YAW_GAP / 2
    return mirror, complete, pose_warning(Pose(yaw, source.roll), target, rebuilt=complete)


def complete_from_visible_half(crop: np.ndarray, yaw: float, seam: float = 0.04) -> np.ndarray:
    """(S, S, 3) aligned crop of a turned face -> the visible half joined to its own mirror image
    about the crop's vertical midline (where the template puts the nose), with a soft seam of
    `seam` x S. yaw > 0: the nose points right, so the left half is the visible one."""
    size = crop.shape[1]
    x = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    keep = 1.0 / (1.0 + np.exp(x / seam * (1 if yaw > 0 else -1)))  # ~1 on the visible half
    keep = keep[None, :, None]
    out = keep * crop.astype(np.float32) + (1 - keep) * crop[:, ::-1].astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
