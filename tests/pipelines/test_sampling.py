"""Sampling, reconstruction, interpolation and completion with the shipped weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines.sample import main as sample_main
from pipelines.sampling import slerp

from ..conftest import photo


@pytest.fixture(scope="module")
def pipe(sampler):
    return sampler


@pytest.mark.parametrize("family", ["ae", "vae", "gan", "vqgan"])
def test_same_seed_same_samples(pipe, family):
    a = pipe.sample(family, 4, seed=1)
    s = pipe.size_of(family)
    assert a.shape == (4, s, s, 3) and a.dtype == np.uint8
    assert np.array_equal(a, pipe.sample(family, 4, seed=1))
    assert not np.array_equal(a, pipe.sample(family, 4, seed=2))
    assert a.std() > 10  # not a flat image


def test_sampling_options(pipe):
    cold = pipe.sample("vae", 8, seed=0, temperature=0.1)
    hot = pipe.sample("vae", 8, seed=0, temperature=1.0)
    assert cold.astype(float).std(0).mean() < hot.astype(float).std(0).mean()  # colder samples vary less
    g, v = pipe.size_of("gan"), pipe.size_of("vqgan")
    assert pipe.sample("gan", 2, seed=0, truncation=0.5).shape == (2, g, g, 3)
    assert pipe.sample("vqgan", 2, seed=0, top_k=10, top_p=0.9, temperature=0.8).shape == (2, v, v, 3)
    with pytest.raises(ValueError, match="n must be"):
        pipe.sample("vae", 0)
    with pytest.raises(ValueError, match="unknown model family"):
        pipe.sample("pixelcnn", 2)


def test_reconstruction_by_every_autoencoder(pipe):
    r = pipe.reconstruct(photo("man_portrait_flags_720p.jpg"))
    assert list(r) == ["input", "ae", "vae", "vqgan"]
    for family in ("ae", "vae", "vqgan"):  # each at its own resolution, the input at the largest
        assert r[family].shape == (pipe.size_of(family),) * 2 + (3,)
    assert r["input"].shape[0] == max(pipe.size_of(f) for f in ("ae", "vae", "vqgan"))

    def at(image, size):
        return np.asarray(Image.fromarray(image).resize((size, size), Image.BICUBIC), np.float64)

    errors = {k: np.abs(r[k].astype(float) - at(r["input"], r[k].shape[0])).mean() for k in ("ae", "vae", "vqgan")}
    assert all(e < 40 for e in errors.values())
    assert errors["vqgan"] < errors["ae"]  # the code grid keeps more than a 128-d vector


@pytest.mark.parametrize("family", ["ae", "vae", "vqgan"])
@pytest.mark.parametrize("mode", ["lerp", "slerp"])
def test_interpolation_goes_from_a_to_b(pipe, family, mode):
    a, b = photo("man_portrait_flags_720p.jpg"), photo("woman_redhair_wide.jpg")
    frames = pipe.interpolate(a, b, family, steps=5, mode=mode)
    s = pipe.size_of(family)
    assert frames.shape == (5, s, s, 3)
    first, last = frames[0].astype(float), frames[-1].astype(float)
    assert np.abs(frames[1].astype(float) - first).mean() < np.abs(frames[1].astype(float) - last).mean()
    assert np.abs(frames[3].astype(float) - last).mean() < np.abs(frames[3].astype(float) - first).mean()


def test_slerp_keeps_the_norm_between_equal_norm_vectors():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert torch.allclose(slerp(a, b, 0.5).norm(), torch.tensor(1.0))
    assert torch.allclose(slerp(a, b, 0.0), a) and torch.allclose(slerp(a, b, 1.0), b)


def test_completion_variations(pipe):
    r = pipe.complete(photo("man_portrait_flags_720p.jpg"), keep="top", n=3, seed=0)
    s = pipe.size_of("vqgan")
    assert r["variations"].shape == (3, s, s, 3) and r["kept"][:8].all() and not r["kept"][8:].any()
    v = r["variations"].astype(float)
    assert np.abs(v[0] - v[1]).mean() > 1.0  # different variations of the bottom half
    # the kept top half decodes close to the input's top rows (the decoder sees both halves near the seam)
    top, bottom = slice(0, 3 * s // 8), slice(5 * s // 8, s)
    assert np.abs(v[:, top] - r["input"][top].astype(float)).mean() < np.abs(v[:, bottom] - r["input"][bottom].astype(float)).mean() + 5
    eyes = pipe.complete(photo("man_portrait_flags_720p.jpg"), keep="eyes", n=1, seed=0)
    assert eyes["kept"].sum() > 200


def test_sample_cli_is_reproducible(cli, tmp_path):
    def run(seed, name):
        out = tmp_path / name
        r = cli(sample_main, "vae", "-n", "4", "--seed", seed, "-o", out)
        assert r.returncode == 0, r.stderr
        return np.asarray(Image.open(out))

    assert np.array_equal(run(0, "a.png"), run(0, "b.png"))
    assert not np.array_equal(run(0, "a.png"), run(1, "c.png"))
    bad = cli(sample_main, "vae", "-n", "0", "-o", tmp_path / "d.png")
    assert bad.returncode != 0 and "n must be" in bad.stderr and not (tmp_path / "d.png").exists()
