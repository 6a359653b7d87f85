"""Every family: shapes, finiteness, strict save -> load round trip, and one step lowers the loss."""

from __future__ import annotations

import json

import pytest
import torch

from models import REGISTRY, WeightsError
from models.gan import discriminator_loss, generator_loss
from models.vqgan import PatchDiscriminator, vqgan_generator_loss

from .tiny import TINY

FAMILIES = sorted(REGISTRY)


def make(family):
    torch.manual_seed(0)
    return REGISTRY[family](TINY[family])


def example_input(family):
    g = torch.Generator().manual_seed(1)
    if family == "transformer":
        return torch.randint(0, 32, (4, 16), generator=g)
    if family == "gan":
        return torch.randn(4, 8, generator=g)
    return torch.rand(4, 3, 16, 16, generator=g) * 2 - 1


def output(model, family, x):
    model.eval()
    with torch.no_grad():
        if family == "transformer":
            return model(x)
        if family == "vqgan":
            return model.decode_indices(model.encode_to_indices(x))
        return model(x)


@pytest.mark.parametrize("family", FAMILIES)
def test_shapes_and_finite(family):
    model, x = make(family), example_input(family)
    y = output(model, family, x)
    expected = (4, 16, 32) if family == "transformer" else (4, 3, 16, 16)
    assert tuple(y.shape) == expected
    assert torch.isfinite(y).all()
    if family != "transformer":
        assert y.min() >= -1 and y.max() <= 1


@pytest.mark.parametrize("family", FAMILIES)
def test_save_load_round_trip_is_identical(family, tmp_path):
    model, x = make(family), example_input(family)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "config.json").is_file()
    loaded = REGISTRY[family].from_pretrained(tmp_path)
    assert loaded.config == model.config
    assert torch.equal(output(model, family, x), output(loaded, family, x))


@pytest.mark.parametrize("family", FAMILIES)
def test_unknown_config_key_fails(family, tmp_path):
    make(family).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["no_such_field"] = 1
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match="no_such_field"):
        REGISTRY[family].from_pretrained(tmp_path)


def test_truncated_or_mismatched_weights_name_the_file(tmp_path):
    model = make("vqgan")
    model.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="model.safetensors"):
        REGISTRY["vqgan"].from_pretrained(tmp_path)
    weights.write_bytes(data)
    config = json.loads((tmp_path / "config.json").read_text())
    config["codebook_size"] = 64  # the file's codebook has 32 rows
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match="model.safetensors"):
        REGISTRY["vqgan"].from_pretrained(tmp_path)
    weights.unlink()
    with pytest.raises(WeightsError, match="model.safetensors"):
        REGISTRY["vqgan"].from_pretrained(tmp_path)


def _loss(family, model, x, disc=None, fixed_z=None):
    if family in ("ae", "transformer"):
        return model.loss(x)[0]
    if family == "vae":
        return model.loss(x, generator=torch.Generator().manual_seed(3))[0]
    if family == "vqgan":
        return vqgan_generator_loss(model, disc, x, step=0)[0]
    raise AssertionError(family)


@pytest.mark.parametrize("family", ["ae", "vae", "vqgan", "transformer"])
def test_one_step_lowers_the_loss(family):
    model = make(family)
    x = example_input(family)
    disc = PatchDiscriminator(8) if family == "vqgan" else None
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    before = _loss(family, model, x, disc)
    opt.zero_grad()
    before.backward()
    opt.step()
    model.eval()  # the quantizer updates usage only in training mode: measure without side effects
    with torch.no_grad():
        after = _loss(family, model, x, disc)
    assert after < before


def test_one_step_lowers_each_gan_loss():
    model = make("gan")
    real = torch.rand(8, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    z = torch.randn(8, 8, generator=torch.Generator().manual_seed(3))
    g, d = model.generator, model.discriminator
    opt_d = torch.optim.SGD(d.parameters(), lr=1e-2)
    opt_g = torch.optim.SGD(g.parameters(), lr=1e-2)
    g.eval()  # fixed batch-norm statistics, so before and after see the same generator function
    d.eval()  # spectral norm: no power iteration between the two measurements
    with torch.no_grad():
        fake = g(z)
    loss_d = discriminator_loss(d(real), d(fake))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    with torch.no_grad():
        assert discriminator_loss(d(real), d(fake)) < loss_d
    loss_g = generator_loss(d(g(z)))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    with torch.no_grad():
        assert generator_loss(d(g(z))) < loss_g
