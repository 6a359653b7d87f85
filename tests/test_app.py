"""The running app: every named endpoint through gradio_client, and a real browser (Debian's
chromium driven by Playwright) uploading photos and a video and getting results back."""

from __future__ import annotations

import os
import time
from pathlib import Path

import imageio.v3 as iio
import pytest
from gradio_client import handle_file
from PIL import Image

from .conftest import ROOT, VIDEOS, app_files, photo

ASSETS = ROOT / "assets"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SWAP_DEFAULTS = (["face"], "all", 1.0, 0.08, True, False)


def test_named_endpoints_are_listed(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/swap_photo", "/swap_video", "/cancel_video", "/sample", "/reconstruct", "/interpolate", "/complete", "/check"} <= names


def test_swap_photo_endpoint(client):
    image, gallery, info = client.predict(
        handle_file(photo("man_portrait_flags_720p.jpg")),
        handle_file(photo("woman_redhair_wide.jpg")),
        *SWAP_DEFAULTS,
        api_name="/swap_photo",
    )
    out = Image.open(image)
    assert out.size == Image.open(photo("woman_redhair_wide.jpg")).size
    assert "CodeSwap" in out.text["Software"] and "Synthetic" in out.text["Comment"]
    assert len(gallery) == 8 and "1 face(s) swapped" in info
    # the check tab reads the marks back: signed Content Credentials and the watermark in the face
    report = client.predict(handle_file(image), api_name="/check")
    assert "Content Credentials: valid signature" in report and "Watermark: FOUND in 1 of 1 faces" in report
    report = client.predict(handle_file(photo("woman_redhair_wide.jpg")), api_name="/check")
    assert "Content Credentials: none" in report and "Watermark: not found" in report


def test_swap_photo_errors_are_messages(client):
    with pytest.raises(Exception, match="no face found in the source"):
        client.predict(
            handle_file(photo("no_face_landscape.jpg")),
            handle_file(photo("woman_redhair_wide.jpg")),
            *SWAP_DEFAULTS,
            api_name="/swap_photo",
        )
    with pytest.raises(Exception, match="at least one face region"):
        pair = handle_file(photo("man_portrait_flags_720p.jpg")), handle_file(photo("woman_redhair_wide.jpg"))
        client.predict(*pair, [], "all", 1.0, 0.08, True, False, api_name="/swap_photo")


def test_swap_photo_hands_switch(client, tmp_path):
    """A source with fingers at its mouth: with the hands kept (the default) the info says that part is not used."""
    frame = next(f for i, f in enumerate(iio.imiter(VIDEOS / "stage_speech_hamilton_clip.mp4")) if i == 160)
    source = tmp_path / "fingers_at_mouth.png"
    Image.fromarray(frame).save(source)
    for hands in (True, False):
        _, _, info = client.predict(handle_file(source), handle_file(photo("man_portrait_flags_720p.jpg")), *SWAP_DEFAULTS,
                                    None, 1.0, "source", hands, api_name="/swap_photo")  # fmt: skip
        assert ("a hand covers part of the source face" in info) == hands


def test_user_errors_are_one_log_line_not_a_traceback(client, app_log):
    before = len(app_log.read_text())
    pair = handle_file(photo("woman_redhair_wide.jpg")), handle_file(photo("no_face_landscape.jpg"))
    with pytest.raises(Exception, match="no face found in the target"):
        client.predict(*pair, *SWAP_DEFAULTS, api_name="/swap_photo")
    with pytest.raises(Exception, match="at least one face region"):
        client.predict(pair[0], handle_file(photo("man_sports_jersey.jpg")), [], "all", 1.0, 0.08, True, False, api_name="/swap_photo")
    time.sleep(0.5)  # the log lines are written as the errors are raised; give the file a moment
    log = app_log.read_text()[before:]
    assert "swap_photo: no face found in the target" in log and "at least one face region" in log
    assert "Traceback" not in log


def test_swap_video_endpoint(client):
    clip = handle_file(VIDEOS / "person_waving_frontal_short.mp4")
    source = handle_file(photo("woman_redhair_wide.jpg"))
    video, info = client.predict(source, clip, ["face"], "all", 1.0, 0.08, True, 2, api_name="/swap_video")
    path = video["video"] if isinstance(video, dict) else video
    assert os.path.getsize(path) > 10_000 and "66 frames" in info


def test_stop_cancels_a_running_video_swap_and_leaves_nothing(client, app_temp):
    outputs = lambda: [f for f in app_files(app_temp) if f.parent.name == "codeswap-outputs"]  # noqa: E731
    kept = outputs()
    clip = handle_file(VIDEOS / "singer_music_video_720p.mp4")  # 289 frames: long enough to stop midway
    job = client.submit(handle_file(photo("woman_redhair_wide.jpg")), clip, ["face"], "all", 1.0, 0.08, True, 3, api_name="/swap_video")
    deadline = time.time() + 120
    while not (job.status().progress_data or time.time() > deadline):  # wait until frames are being swapped
        time.sleep(0.2)
    assert "Stopping" in client.predict(api_name="/cancel_video")
    video, info = job.result(timeout=120)
    assert video is None and "cancelled and no output was written" in info
    assert outputs() == kept and not [f for f in app_files(app_temp) if ".tmp" in f.name]
    assert "Nothing to stop" in client.predict(api_name="/cancel_video")


@pytest.mark.parametrize("family", ["ae", "vae", "gan", "vqgan"])
def test_sample_endpoint_is_reproducible(client, family):
    a = client.predict(family, 4, 7, 1.0, 100, 1.0, 0, api_name="/sample")
    b = client.predict(family, 4, 7, 1.0, 100, 1.0, 0, api_name="/sample")
    c = client.predict(family, 4, 8, 1.0, 100, 1.0, 0, api_name="/sample")
    ia, ib, ic = (Image.open(x).tobytes() for x in (a, b, c))
    assert ia == ib and ia != ic


def test_explore_endpoints(client):
    face = handle_file(photo("man_portrait_flags_720p.jpg"))
    rec = client.predict(face, api_name="/reconstruct")
    captions = [item["caption"] for item in rec]
    assert [c.split(",")[0] for c in captions] == ["input", "ae", "vae", "vqgan"]
    assert captions[-1] == "vqgan, 128x128" and captions[1] == "ae, 64x64"  # each family at its own resolution
    strip = client.predict(face, handle_file(photo("woman_redhair_wide.jpg")), "vae", 5, "slerp", api_name="/interpolate")
    assert Image.open(strip).size[0] > 4 * Image.open(strip).size[1]
    done = client.predict(face, "top", 2, 0, 1.0, api_name="/complete")
    assert len(done) == 4


def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} missing: apt-get install chromium (.ci/run does)")
    pw = sync_playwright().start()
    return pw, pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def test_browser_photo_and_video_swap(app_url, tmp_path):
    pw, chrome = browser()
    try:
        page = chrome.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app_url, wait_until="networkidle")
        page.locator("#swap-source input[type=file]").set_input_files(str(photo("man_portrait_flags_720p.jpg")))
        page.locator("#swap-target input[type=file]").set_input_files(str(photo("woman_redhair_wide.jpg")))
        page.wait_for_selector("#swap-target img", timeout=30_000)
        page.click("#swap-button")
        result = page.wait_for_selector("#swap-result img", timeout=120_000)
        assert "codeswap-" in result.get_attribute("src")
        page.screenshot(path=str(tmp_path / "photo.png"))

        # a file that is not an image, uploaded in the browser: our message, not a stack trace
        (tmp_path / "notes.jpg").write_bytes(b"shopping list: eggs, milk" * 20)
        page.locator("#swap-source button[aria-label='Remove Image']").click()
        page.locator("#swap-source input[type=file]").set_input_files(str(tmp_path / "notes.jpg"))
        page.click("#swap-button")
        toast = page.wait_for_selector(".toast-body", timeout=60_000)
        assert "not an image" in toast.inner_text() and "Traceback" not in page.content()

        page.get_by_role("tab", name="Swap video").click()
        page.locator("#video-source input[type=file]").set_input_files(str(photo("woman_redhair_wide.jpg")))
        page.locator("#video-input input[type=file]").set_input_files(str(VIDEOS / "person_waving_frontal_short.mp4"))
        page.wait_for_selector("#video-input video", timeout=30_000)
        page.click("#video-button")
        video = page.wait_for_selector("#video-result video", timeout=300_000)
        assert "codeswap-" in video.get_attribute("src")
        page.screenshot(path=str(tmp_path / "video.png"))
    finally:
        chrome.close()
        pw.stop()


TABS = ["Swap photos", "Swap video", "Sample", "Explore", "Check a file", "About"]
# Where the layout test keeps its screenshots: a temporary folder, or (to refresh the README's)
# CODESWAP_SCREENSHOTS=docs/screenshots python -m pytest tests/test_app.py -k fits
SCREENSHOTS = os.environ.get("CODESWAP_SCREENSHOTS")


def open_tab(page, name: str) -> None:
    """Click a tab; at phone width most tabs sit in Gradio's "More tabs" menu."""
    tab = page.get_by_role("tab", name=name)
    if tab.count() and tab.first.is_visible():
        tab.first.click()
    else:
        page.click("button[aria-label='More tabs']")
        page.locator(".overflow-dropdown button", has_text=name).click()
    page.wait_for_timeout(500)


def cut_off_text(page) -> list[str]:
    """Captions and labels whose text does not fit their box (shown with an ellipsis or clipped), and
    labels (a checkbox's, a radio button's) too narrow for their text or reaching past the window's edge."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.caption-label, [data-testid=block-label] span, th'))
              .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
              .map(e => e.innerText)
              .concat(Array.from(document.querySelectorAll('label'))
                .filter(e => e.offsetParent !== null
                             && (e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > window.innerWidth + 1))
                .map(e => e.innerText))"""
    )


@pytest.mark.parametrize("width", [1400, 390])
def test_every_tab_fits_at_desktop_and_phone_width(app_url, tmp_path, width):
    """Every tab, with a swap's intermediates and the reconstructions shown: no horizontal scroll and
    no cut-off caption, at a desktop width and at a phone's (390 px). Full-page screenshots of each."""
    folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    pw, chrome = browser()
    try:
        page = chrome.new_page(viewport={"width": width, "height": 900})
        page.goto(app_url, wait_until="networkidle")
        page.locator("#swap-source input[type=file]").set_input_files(str(ASSETS / "astronaut.png"))
        page.locator("#swap-target input[type=file]").set_input_files(str(photo("woman_redhair_wide.jpg")))
        page.wait_for_selector("#swap-target img", timeout=30_000)
        page.click("#swap-button")
        page.wait_for_selector("#swap-result img", timeout=120_000)
        page.get_by_text("Intermediate steps").click()
        page.wait_for_selector("#swap-steps .caption-label", timeout=30_000)
        problems = {}
        for name in TABS:
            open_tab(page, name)
            if name in ("Swap photos", "Swap video"):  # their options too
                page.locator(".tabitem:visible").get_by_text("Options", exact=True).click()
                page.wait_for_timeout(500)
            if name == "Explore":
                page.locator("#explore-reconstruct-input input[type=file]").set_input_files(str(ASSETS / "astronaut.png"))
                page.wait_for_selector("#explore-reconstruct-input img", timeout=30_000)
                page.click("#explore-reconstruct-button")
                page.wait_for_selector("#explore-reconstructions .caption-label", timeout=60_000)
            scroll = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            cut = cut_off_text(page)
            if scroll > 0 or cut:
                problems[name] = {"horizontal scroll px": scroll, "cut off": cut}
            page.screenshot(path=str(folder / f"{name.lower().replace(' ', '-')}-{width}.jpg"), full_page=True, type="jpeg", quality=70)
        assert not problems, problems
    finally:
        chrome.close()
        pw.stop()
