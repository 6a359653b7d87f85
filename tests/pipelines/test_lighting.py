"""The target's lighting: light falling across the target's face falls across the swapped one (pipelines/lighting.py)."""

from __future__ import annotations

import numpy as np

from pipelines.faces import detect_faces
from pipelines.images import load_image
from pipelines.lighting import relit, shading
from pipelines.swap import SwapOptions

from ..conftest import photo


def side_lit(image: np.ndarray, face, dark: float = 0.55) -> np.ndarray:
    """The photo lit from the right: brightness ramping from `dark` to 1 across the face's box."""
    x1, _, x2, _ = face.box
    ramp = np.clip((np.arange(image.shape[1]) - x1) / (x2 - x1), 0.0, 1.0)
    return (image * (dark + (1 - dark) * ramp)[None, :, None]).astype(np.uint8)


def halves(image: np.ndarray, face) -> tuple[float, float]:
    """Mean brightness of the left and right halves of the inner face box (the MTCNN box less 15% a side)."""
    x1, y1, x2, y2 = face.box
    dx, dy = 0.15 * (x2 - x1), 0.15 * (y2 - y1)
    box = image[int(y1 + dy) : int(y2 - dy), int(x1 + dx) : int(x2 - dx)].mean(axis=2)
    return float(box[:, : box.shape[1] // 2].mean()), float(box[:, box.shape[1] // 2 :].mean())


def test_light_across_the_target_falls_across_the_swapped_face(swapper):
    """The source lit from one side onto a portrait lit from the other, and onto the portrait darkened
    on the first side: relit, the swapped face's balance of light between its halves moves well
    towards the target's (the source's shadows at the nose and eyes stay: the shading is only the slow
    part); with the source's own shading kept (relight off) it is the source's."""
    image = load_image(photo("man_portrait_flags_720p.jpg"))
    face = max(detect_faces(image), key=lambda f: f.size)
    source = load_image(photo("woman_redhair_wide.jpg"))
    for target in (image, side_lit(image, face)):
        wanted = np.divide(*halves(target, face))
        lit = np.divide(*halves(swapper(source, target, SwapOptions(target_face="largest")).image, face))
        flat = np.divide(*halves(swapper(source, target, SwapOptions(target_face="largest", relight=False)).image, face))
        assert abs(lit - wanted) < 0.75 * abs(flat - wanted) and abs(flat - wanted) > 0.15, (lit, flat, wanted)


def test_shading_is_slow_and_leaves_a_face_on_itself_alone():
    """A face relit by itself does not change, nor one with no skin to read; the shading of a face by
    its own side-lit copy is a smooth ramp (no edge of an eye or a mouth in it), and relit by that copy
    the face takes its light: within a few levels of it on the skin."""
    from pipelines.faces import align_face

    image = load_image(photo("woman_redhair_wide.jpg"))
    face = max(detect_faces(image), key=lambda f: f.size)
    crop = align_face(image, face.landmarks, 256)[0]
    lit = align_face(side_lit(image, face), face.landmarks, 256)[0]
    skin = np.zeros((128, 128), np.float32)
    skin[40:100, 30:98] = 1.0
    assert np.array_equal(relit(crop, crop, skin), crop)
    assert np.array_equal(relit(crop, lit, np.zeros_like(skin)), crop)
    low = shading(crop, lit, skin).mean(axis=2)  # (64, 64): the target darker on its left
    row = low[35, 15:49]
    assert row[:5].mean() < row[-5:].mean() - 8 and np.abs(np.diff(row)).max() < 2, row  # rising across the face, smoothly
    assert np.abs(np.diff(low[25:45, 15:49], axis=0)).max() < 3  # slow from row to row
    inside = np.s_[90:190, 70:186]  # the skin's box at 256
    before = np.abs(crop[inside].astype(int) - lit[inside]).mean()
    after = np.abs(relit(crop, lit, skin)[inside].astype(int) - lit[inside]).mean()
    assert after < 0.25 * before, (before, after)
