"""Head pose from 5 landmarks, and how a source is turned to match a target."""

from __future__ import annotations

import numpy as np

from pipelines.faces import CANONICAL_TEMPLATE
from pipelines.pose import Pose, choose_view, complete_from_visible_half, estimate_pose


def test_frontal_template_has_no_yaw_and_no_roll():
    pose = estimate_pose(CANONICAL_TEMPLATE * 200)
    assert abs(pose.yaw) < 0.02 and abs(pose.roll) < 1 and pose.view == "frontal"


def test_yaw_follows_the_nose_and_flips_with_a_mirror_image():
    turned = CANONICAL_TEMPLATE * 200
    turned[2, 0] += 0.5 * (turned[1, 0] - turned[0, 0])  # the nose half an eye distance to the right
    pose = estimate_pose(turned)
    assert 0.45 < pose.yaw < 0.55 and pose.view == "three-quarter"
    mirrored = turned.copy()
    mirrored[:, 0] = 200 - mirrored[:, 0]
    mirrored = mirrored[[1, 0, 2, 4, 3]]  # left and right swap places in a mirror
    assert np.isclose(estimate_pose(mirrored).yaw, -pose.yaw)


def test_roll_is_the_eye_line_angle():
    angle = np.radians(30)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pose = estimate_pose(CANONICAL_TEMPLATE @ rot.T * 100)
    level = estimate_pose(CANONICAL_TEMPLATE * 100)  # the template's eyes are 0.3 degrees off level
    assert np.isclose(pose.roll - level.roll, 30, atol=0.01) and abs(pose.yaw) < 0.02


def test_choose_view_mirrors_completes_and_warns():
    frontal, left, right, profile = Pose(0.0, 0), Pose(-0.25, 0), Pose(0.25, 0), Pose(0.75, 0)
    assert choose_view(frontal, frontal) == (False, False, None)
    mirror, complete, warning = choose_view(left, right)
    assert mirror and not complete and warning is None
    mirror, complete, warning = choose_view(profile, frontal)
    assert not mirror and complete and "profile" in warning
    mirror, complete, warning = choose_view(Pose(0.5, 0), Pose(0.1, 0))  # 0.4 apart, the hidden half rebuilt: said
    assert not mirror and complete and "three-quarter" in warning


def test_completion_mirrors_the_visible_half():
    crop = np.zeros((64, 64, 3), np.uint8)
    crop[:, :32] = 200  # visible left half, background right
    whole = complete_from_visible_half(crop, yaw=0.7)
    assert whole[:, :16].min() >= 195 and whole[:, 48:].min() >= 195  # the seam is soft near the midline
    assert np.array_equal(whole, whole[:, ::-1]) or np.abs(whole.astype(int) - whole[:, ::-1]).max() <= 1
