"""The target's lighting: light falling across the target's face falls across the swapped one (pipelines/lighting.py)."""

from __future__ import annotations

import imageio_ffmpeg
import numpy as np

from pipelines.faces import detect_faces
from pipelines.images import load_image
from pipelines.lighting import relit, shading
from pipelines.swap import SwapOptions
from pipelines.video import VideoSwapPipeline

from ..conftest import VIDEOS, photo


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


def test_the_light_is_a_plane_and_a_face_relit_by_itself_is_itself():
    """A face relit by itself does not change, nor one with no skin to read; relit by its own side-lit
    copy it takes that light: the fitted plane brightens towards the lit side, and the face comes out
    a third as far from the lit copy on the skin as before."""
    from pipelines.faces import align_face

    image = load_image(photo("woman_redhair_wide.jpg"))
    face = max(detect_faces(image), key=lambda f: f.size)
    crop = align_face(image, face.landmarks, 256)[0]
    lit = align_face(side_lit(image, face), face.landmarks, 256)[0]
    skin = np.zeros((128, 128), np.float32)
    skin[40:100, 30:98] = 1.0
    assert np.array_equal(relit(crop, crop, skin), crop)
    assert np.array_equal(relit(crop, lit, np.zeros_like(skin)), crop) and shading(crop, lit, np.zeros_like(skin)) is None
    plane = shading(crop, lit, skin)  # rows 1, x, y; columns R, G, B
    assert np.all(plane[0] < -10) and np.all(plane[1] > 10), plane  # darker overall, brighter to the right
    inside = np.s_[90:190, 70:186]  # the skin's box at 256
    before = np.abs(crop[inside].astype(int) - lit[inside]).mean()
    after = np.abs(relit(crop, lit, skin)[inside].astype(int) - lit[inside]).mean()
    assert after < 0.35 * before, (before, after)  # a plane, not the ramp clipped at the face box: a third left


def test_relight_is_on_for_photos_and_off_for_video_unless_asked(swapper, tmp_path):
    """SwapOptions.relight None: a photo is relit (the same image as asking for it, not as refusing
    it); a video is not (the same frames as refusing it, not as asking for it)."""
    source, target = load_image(photo("woman_redhair_wide.jpg")), load_image(photo("man_portrait_flags_720p.jpg"))
    default = swapper(source, target).image
    assert np.array_equal(default, swapper(source, target, relight=True).image)
    assert not np.array_equal(default, swapper(source, target, relight=False).image)
    video, clip = VideoSwapPipeline(swapper), VIDEOS / "person_waving_frontal_short.mp4"

    def frames(options):
        out = tmp_path / f"{options.relight}.mp4"
        video(source, clip, out, options)
        return [np.frombuffer(f, np.uint8) for f in list(imageio_ffmpeg.read_frames(str(out)))[1:]]

    default, off, on = (frames(SwapOptions(expression="target", relight=r)) for r in (None, False, True))
    assert all(np.array_equal(a, b) for a, b in zip(default, off, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(default, on, strict=True))
