"""The app's work without the web: AppCore on the shipped weights, called as a plain object."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from pipelines.app_core import AppCore, MissingInput, PhotoSettings
from pipelines.provenance import check
from pipelines.video import VideoSwapPipeline

from .conftest import ROOT, VIDEOS, photo


@pytest.fixture(scope="module")
def core(swapper, sampler, tmp_path_factory):
    return AppCore(swapper, VideoSwapPipeline(swapper), sampler, output_dir=tmp_path_factory.mktemp("outputs"))


def test_swap_photo_returns_a_marked_file_captioned_steps_and_a_report(core):
    # two faces within a few degrees of the same pose: nothing turned, no expression: the source is encoded as given
    path, gallery, info = core.swap_photo(photo("man_laughing_closeup.png"), photo("woman_redhair_wide.jpg"), PhotoSettings(["face"]))
    assert Image.open(path).size == Image.open(photo("woman_redhair_wide.jpg")).size
    report = check(path)
    assert report.credentials is not None and report.credentials.valid and report.credentials.ai_generated
    assert report.watermark and report.marked == report.checked == 1
    assert len(gallery) == 8 and all(caption and image.ndim == 3 for image, caption in gallery)
    assert info.startswith("1 face(s) swapped.") and "total" in info
    # with the target's expression (or a turn to its pose), the steps also show the source as encoded
    _, gallery, _ = core.swap_photo(photo("woman_redhair_wide.jpg"), photo("man_portrait_flags_720p.jpg"),
                                    PhotoSettings(["face"], expression="target"))  # fmt: skip
    (posed, caption), (source, _) = gallery[1], gallery[0]
    assert len(gallery) == 9 and caption == "Source as encoded for the target" and np.abs(posed.astype(int) - source).mean() > 1


def test_a_persons_mistakes_are_messages_that_say_what_to_do(core):
    with pytest.raises(MissingInput, match="Please provide a source photo"):
        core.swap_photo(None, photo("woman_redhair_wide.jpg"), PhotoSettings(["face"]))
    with pytest.raises(MissingInput, match="at least one face region"):
        core.swap_photo(photo("man_portrait_flags_720p.jpg"), photo("woman_redhair_wide.jpg"), PhotoSettings([]))
    with pytest.raises(ValueError, match="no face found in the target"):
        core.swap_photo(photo("man_portrait_flags_720p.jpg"), photo("no_face_landscape.jpg"), PhotoSettings(["face"]))
    assert core.stop_video("no such session") == "Nothing to stop."


def test_samples_and_the_codebook_figure(core):
    a, b = core.sample("vqgan", 4, 3), core.sample("vqgan", 4, 3)
    assert Image.open(a).tobytes() == Image.open(b).tobytes() and a != b  # same seed, same faces; a new file each time
    text, chart = core.codebook_usage()
    k = core.swapper.vqgan.config.codebook_size
    assert f"of {k} codes" in text and int(text.split()[0]) > 0.9 * k and chart.ndim == 3
    assert core.sampling_families == ["ae", "vae", "gan", "vqgan"]


def test_stop_ends_a_running_video_swap_with_nothing_written(core):
    started = threading.Event()
    result = {}

    def run():
        result["out"] = core.swap_video(photo("woman_redhair_wide.jpg"), VIDEOS / "singer_music_video_720p.mp4", PhotoSettings(["face"]),
                                        session="s1", progress=lambda done, total: started.set())  # fmt: skip

    before = set(core.output_dir.iterdir())
    worker = threading.Thread(target=run)
    worker.start()
    assert started.wait(120)
    assert core.stop_video("s1") == "Stopping..."
    worker.join(120)
    path, message = result["out"]
    assert path is None and "cancelled and no output was written" in message
    assert set(core.output_dir.iterdir()) == before and core.stop_events == {}


def test_the_app_module_holds_layout_only():
    """Handlers are thin: app.py calls AppCore and builds components; no pipeline is driven from it."""
    source = (ROOT / "app.py").read_text()
    for name in ("FaceSwapPipeline(", "SamplingPipeline(", "save_output_image", "np."):
        assert name not in source, name
