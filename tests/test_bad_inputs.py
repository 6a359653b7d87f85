"""Every kind of awkward file, through the command line and through the app: the right result or a
clear message naming the problem; never a stack trace, never a partial output."""

from __future__ import annotations

import io
import subprocess

import imageio_ffmpeg
import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

from pipelines.swap import main as swap_main
from pipelines.video import main as video_main

from .conftest import VIDEOS, app_files, photo

GOOD_TARGET = "woman_redhair_wide.jpg"


def face_photo() -> Image.Image:
    return Image.open(photo("man_portrait_flags_720p.jpg"))


def make_inputs(folder):
    """name -> (path, expectation): 'ok' (a swap is written) or a fragment of the error message."""
    f = folder
    out = {}
    data = photo("man_portrait_flags_720p.jpg").read_bytes()
    (f / "truncated.jpg").write_bytes(data[: len(data) // 2])
    out["truncated jpeg"] = (f / "truncated.jpg", "corrupt or truncated")
    png = io.BytesIO()
    face_photo().save(png, format="PNG")
    (f / "truncated.png").write_bytes(png.getvalue()[: len(png.getvalue()) // 2])
    out["truncated png"] = (f / "truncated.png", "corrupt or truncated")
    (f / "text.jpg").write_bytes(b"hello, I am not a picture at all" * 10)
    out["non-image bytes"] = (f / "text.jpg", "not an image")
    Image.new("L", (30000, 30000)).save(f / "bomb.png")
    out["decompression bomb"] = (f / "bomb.png", "too large")
    Image.new("RGB", (1, 1)).save(f / "one.png")
    out["1x1"] = (f / "one.png", "no face found")
    Image.new("RGB", (16, 16), (200, 150, 120)).save(f / "sixteen.png")
    out["16x16"] = (f / "sixteen.png", "no face found")
    gray16 = (np.asarray(face_photo().convert("L"), np.uint16) * 257).astype(np.uint16)
    Image.fromarray(gray16).save(f / "sixteen_bit.png")
    out["16-bit png"] = (f / "sixteen_bit.png", "ok")
    face_photo().convert("CMYK").save(f / "cmyk.jpg")
    out["cmyk jpeg"] = (f / "cmyk.jpg", "ok")
    face_photo().convert("RGBA").save(f / "rgba.png")
    out["rgba"] = (f / "rgba.png", "ok")
    face_photo().convert("P", palette=Image.Palette.ADAPTIVE).save(f / "palette.png")
    out["palette"] = (f / "palette.png", "ok")
    face_photo().convert("L").save(f / "gray.jpg")
    out["grayscale"] = (f / "gray.jpg", "ok")
    frames = [face_photo().convert("P"), Image.new("P", face_photo().size)]
    frames[0].save(f / "animated.gif", save_all=True, append_images=frames[1:], duration=100)
    out["animated gif"] = (f / "animated.gif", "ok")
    out["exif rotated"] = (photo("woman_exif_orientation6_rotated.jpg"), "ok")
    out["face cut by the border"] = (photo("man_face_cut_by_image_edge.jpg"), "ok")
    out["tiny faces"] = (photo("three_women_outdoor_small_faces.jpg"), "ok")
    out["no face"] = (photo("no_face_landscape.jpg"), "no face found")
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return make_inputs(tmp_path_factory.mktemp("bad"))


CASES = ["truncated jpeg", "truncated png", "non-image bytes", "decompression bomb", "1x1", "16x16", "16-bit png", "cmyk jpeg",
         "rgba", "palette", "grayscale", "animated gif", "exif rotated", "face cut by the border", "tiny faces", "no face"]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("role", ["source", "target"])
def test_cli(cli, inputs, case, role, tmp_path):
    path, expect = inputs[case]
    out = tmp_path / "out.png"
    pair = (path, photo(GOOD_TARGET)) if role == "source" else (photo("man_portrait_flags_720p.jpg"), path)
    before = path.read_bytes()
    r = cli(swap_main, *pair, "-o", out)
    assert path.read_bytes() == before  # inputs are never modified
    if expect == "ok":
        assert r.returncode == 0, r.stderr
        assert Image.open(out).size[0] > 0
    else:
        assert r.returncode != 0 and expect in r.stderr, r.stderr
        assert role in r.stderr  # the message says which input
        assert list(tmp_path.iterdir()) == []


# The app's PhotoUpload hands every file to the same loader, so every case also runs through the app.
APP_CASES = CASES


def outputs_of(temp):
    return [f for f in app_files(temp) if f.parent.name == "codeswap-outputs"]


@pytest.mark.parametrize("case", APP_CASES)
@pytest.mark.parametrize("role", ["source", "target"])
def test_app(client, app_temp, inputs, case, role):
    path, expect = inputs[case]
    before = path.read_bytes()
    pair = (path, photo(GOOD_TARGET)) if role == "source" else (photo("man_portrait_flags_720p.jpg"), path)
    args = (*map(handle_file, pair), ["face"], "all", 1.0, 0.08, True, False)
    kept = outputs_of(app_temp)
    if expect == "ok":
        image, _, info = client.predict(*args, api_name="/swap_photo")
        assert "swapped" in info and Image.open(image).size[0] > 0
    else:
        with pytest.raises(Exception) as err:
            client.predict(*args, api_name="/swap_photo")
        assert expect in str(err.value) and "Traceback" not in str(err.value)
        assert role in str(err.value)  # the message says which input
        assert outputs_of(app_temp) == kept  # a failed request writes no output
    assert path.read_bytes() == before
    assert not [f for f in app_files(app_temp) if ".tmp" in f.name]  # nothing half-written is left behind


FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
SHORT = VIDEOS / "person_waving_frontal_short.mp4"  # 66 frames, 464x560, no audio


def ffmpeg(*args):
    subprocess.run([FFMPEG, "-v", "error", "-y", *map(str, args)], check=True)


def make_videos(f):
    """name -> (path, expectation) as in make_inputs; every clip is under a second, so cases stay quick."""
    out = {}
    (f / "broken.mp4").write_bytes(SHORT.read_bytes()[:2000])
    out["corrupt video"] = (f / "broken.mp4", "broken.mp4")
    (f / "words.mp4").write_bytes(b"this is not a video" * 50)
    out["non-video bytes"] = (f / "words.mp4", "words.mp4")
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=44100:cl=mono", "-t", "1", f / "silence.mp4")
    out["zero frames (audio only)"] = (f / "silence.mp4", "no video stream")
    ffmpeg("-i", VIDEOS / "stage_speech_hamilton_clip.mp4", "-t", "2", "-movflags", "+faststart", f / "whole.mp4")
    whole = (f / "whole.mp4").read_bytes()
    (f / "cut_short.mp4").write_bytes(whole[: len(whole) * 6 // 10])  # header intact, the last 40% missing
    out["truncated video"] = (f / "cut_short.mp4", "ok, noting: may be truncated")
    ffmpeg("-i", SHORT, "-t", "0.4", f / "no_audio.mp4")
    out["no audio track"] = (f / "no_audio.mp4", "ok")
    ffmpeg("-i", SHORT, "-vf", "setpts='N/25/TB+0.03*mod(N,3)/TB'", "-fps_mode", "vfr", "-t", "0.5", f / "vfr.mp4")
    out["variable frame rate"] = (f / "vfr.mp4", "ok")
    ffmpeg("-i", SHORT, "-vf", "transpose=1", "-t", "0.4", f / "sideways.mp4")  # 560x464, a face on its side
    out["rotated landscape"] = (f / "sideways.mp4", "ok")
    ffmpeg("-i", SHORT, "-vf", "scale=96:-2", "-b:v", "50k", f / "small.mp4")  # small, so the long clip stays under the upload limit
    ffmpeg("-stream_loop", "60", "-i", f / "small.mp4", "-c", "copy", f / "long.mp4")  # 61 x 2.2 s, past the 120 s limit
    out["over the limits"] = (f / "long.mp4", "over the limit")
    return out


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return make_videos(tmp_path_factory.mktemp("videos"))


VIDEO_CASES = ["corrupt video", "truncated video", "non-video bytes", "zero frames (audio only)", "no audio track",
               "variable frame rate", "rotated landscape", "over the limits"]  # fmt: skip


@pytest.mark.parametrize("case", VIDEO_CASES)
def test_video_cli(cli, videos, case, tmp_path):
    path, expect = videos[case]
    out = tmp_path / "out.mp4"
    before = path.read_bytes()
    r = cli(video_main, photo(GOOD_TARGET), path, "-o", out)
    assert path.read_bytes() == before
    if expect.startswith("ok"):
        assert r.returncode == 0, r.stderr
        assert out.stat().st_size > 1000
        assert expect.partition("noting: ")[2] in r.stderr
    else:
        assert r.returncode != 0 and expect in r.stderr, r.stderr
        assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case", VIDEO_CASES)
def test_video_app(client, app_temp, videos, case):
    path, expect = videos[case]
    args = (handle_file(photo(GOOD_TARGET)), handle_file(path), ["face"], "all", 1.0, 0.08, True, 3)
    kept = outputs_of(app_temp)
    if expect.startswith("ok"):
        video, info = client.predict(*args, api_name="/swap_video")
        assert "frames" in info and expect.partition("noting: ")[2] in info
    else:
        with pytest.raises(Exception) as err:
            client.predict(*args, api_name="/swap_video")
        assert expect in str(err.value) and "Traceback" not in str(err.value)
        assert outputs_of(app_temp) == kept
    assert not [f for f in app_files(app_temp) if ".tmp" in f.name]
