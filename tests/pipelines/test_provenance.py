"""Outputs stay marked as synthetic: the watermark in every face we make, C2PA Content Credentials on
every file we write, and the detector that reads both back (real photos, real weights)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from pipelines import credentials, provenance, watermark
from pipelines.blend import is_grey
from pipelines.faces import align_face, detect_faces
from pipelines.images import load_image
from pipelines.swap import FaceSwapPipeline, SwapOptions
from pipelines.swap import main as swap_main

from ..conftest import photo

REAL = ["woman_redhair_wide.jpg", "man_laughing_closeup.png", "man_sports_jersey.jpg", "group_six_people_table.jpg"]


@pytest.fixture(scope="module")
def pipe(swapper):
    return swapper


def jpeg(image: np.ndarray, quality: int = 75) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]


def test_the_mark_is_found_in_a_marked_face_and_not_in_the_same_face_unmarked():
    image = load_image(photo("man_portrait_light_background.jpg"))
    crop, _ = align_face(image, detect_faces(image)[0].landmarks, watermark.DETECT_SIZE)
    plain, marked = watermark.read_face(crop), watermark.read_face(watermark.embed(crop))
    assert not plain.found and plain.payload is None
    assert marked.found and marked.payload == watermark.payload(watermark.FORMAT - 1)
    assert marked.score > plain.score + 4


def test_a_swapped_photo_keeps_its_mark_through_a_reupload(pipe):
    image = pipe(photo("man_portrait_flags_720p.jpg"), photo("man_microphone_closeup.png"), SwapOptions()).image
    h, w = image.shape[:2]
    reuploaded = jpeg(cv2.resize(image[h // 20 : h - h // 20, w // 20 : w - w // 20], (w // 2, h // 2), interpolation=cv2.INTER_AREA))
    marks = provenance.read_marks(reuploaded)
    assert marks and marks[0].found, marks  # the most confident face is the swapped one


def test_a_small_face_takes_a_stronger_mark_and_keeps_it_through_jpeg(pipe):
    """A lowered head's 222 px face carries the pattern in few pixels: at the large faces' strength
    it read 3.8 after JPEG 75 (threshold 5); at its own it is found."""
    r = pipe(photo("man_smiling_vest_wide.jpg"), photo("woman_looking_down.jpg"), SwapOptions())
    marks = provenance.read_marks(jpeg(r.image))
    assert marks and max(m.score for m in marks) >= watermark.THRESHOLD + 1, [m.score for m in marks]
    assert watermark.photo_strength(222) > watermark.photo_strength(450) == 1.0


def test_the_mark_is_invisible_and_only_in_the_face(pipe):
    plain_pipe = FaceSwapPipeline(pipe.vqgan, pipe.transformer, pipe.detector, mark=False)
    a, b = photo("man_portrait_flags_720p.jpg"), photo("woman_redhair_wide.jpg")
    marked, plain = pipe(a, b, SwapOptions()), plain_pipe(a, b, SwapOptions())
    diff = marked.image.astype(float) - plain.image
    assert 10 * np.log10(255**2 / (diff**2).mean()) >= 40  # the issue's bar, on the whole picture
    x0, y0, x1, y1 = marked.target_faces[0].box.astype(int)
    outside = np.ones(diff.shape[:2], bool)
    outside[max(y0 - (y1 - y0), 0) : y1 + (y1 - y0), max(x0 - (x1 - x0), 0) : x1 + (x1 - x0)] = False
    assert np.all(diff[outside] == 0)  # far from the face, the pixels are the target's
    assert np.abs(diff).max() > 0


@pytest.mark.parametrize("name", REAL)
def test_real_photos_carry_no_mark(name):
    marks = provenance.read_marks(load_image(photo(name)))
    assert marks and not any(m.found for m in marks), [m.score for m in marks]


def test_a_black_and_white_photo_gets_a_black_and_white_face(pipe):
    target = photo("man_grayscale_portrait.jpg")
    assert is_grey(load_image(target))
    r = pipe(photo("woman_redhair_wide.jpg"), target, SwapOptions())
    x0, y0, x1, y1 = r.target_faces[0].box.astype(int)
    face = r.image[y0:y1, x0:x1].astype(np.int16)
    colour = np.abs(face - face.mean(-1, keepdims=True))  # how far each channel is from the pixel's grey
    # the source's colours (her red hair, blue eyes: tens of levels) stay out: only the mark's faint chroma,
    # whose 99th percentile follows the face's brightness (4.00 without the relight, 4.03 with; 0 unmarked)
    assert colour.mean() < 1.0 and np.percentile(colour, 99) <= 5, (colour.mean(), np.percentile(colour, 99))
    assert not np.array_equal(r.image, load_image(target))
    assert all(m.found for m in provenance.read_marks(r.image))  # and the mark is read back


def test_samples_are_marked(sampler):
    samples = sampler.sample("vqgan", n=3, seed=1)
    assert all(watermark.read_face(s).found for s in samples)


def test_cli_output_carries_labels_credentials_and_the_mark(tmp_path, capsys):
    out = tmp_path / "out.png"
    assert swap_main([str(photo("man_portrait_light_background.jpg")), str(photo("man_sports_jersey.jpg")), "-o", str(out)]) == 0
    c = credentials.read(out)
    assert c is not None and c.valid and not c.trusted  # signed, by the self-signed development key
    assert "signingCredential.untrusted" in c.problems
    assert c.ai_generated and c.generator.startswith("CodeSwap") and "face swap" in c.description
    assert c.issuer == credentials.DEVELOPMENT_ISSUER
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temporary file left
    capsys.readouterr()
    assert provenance.main([str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["watermark"] and report["marked"] == report["checked"] == 1
    assert report["credentials"]["valid"] and "CodeSwap" in report["labels"]["Software"]
    assert provenance.main([str(out)]) == 0
    text = capsys.readouterr().out
    assert "Content Credentials: valid signature" in text and "NOT trusted" in text and "Watermark: FOUND" in text


def test_a_real_photo_reports_nothing(capsys):
    assert provenance.main([str(photo("man_laughing_closeup.png"))]) == 0
    text = capsys.readouterr().out
    assert "Content Credentials: none" in text and "Watermark: not found" in text


def test_the_deployers_key_is_used_when_set(tmp_path, monkeypatch):
    chain, key = credentials._make_development_key()
    (tmp_path / "chain.pem").write_bytes(chain)
    monkeypatch.setenv(credentials.CERT_ENV, str(tmp_path / "chain.pem"))
    monkeypatch.setenv(credentials.KEY_ENV, key.decode())  # PEM text itself, as a Space secret holds it
    home = tmp_path / "home"
    monkeypatch.setenv("CODESWAP_HOME", str(home))
    assert credentials.signing_material() == (chain, key, False)
    image = tmp_path / "a.jpg"
    cv2.imwrite(str(image), np.full((64, 64, 3), 100, np.uint8))
    credentials.sign_in_place(image, "image/jpeg", credentials.Made("test", ("vqgan",)))
    assert credentials.read(image).valid
    assert not home.exists()  # no development key was made


def test_half_a_key_is_refused(monkeypatch):
    monkeypatch.setenv(credentials.CERT_ENV, "/nonexistent/chain.pem")
    monkeypatch.delenv(credentials.KEY_ENV, raising=False)
    with pytest.raises(ValueError, match="CODESWAP_C2PA_CERT and CODESWAP_C2PA_KEY"):
        credentials.signing_material()


def test_missing_file_is_a_clear_error(tmp_path, capsys):
    assert provenance.main([str(tmp_path / "nothing.png")]) == 1
    assert "no such file" in capsys.readouterr().err
