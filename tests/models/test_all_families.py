"""Every family: shapes, finiteness, strict save -> load round trip, and one step lowers the loss."""

from __future__ import annotations

import json

import pytest
import torch

from models import REGISTRY, WeightsError
from models.gan import discriminator_loss, generator_loss

from .tiny import TINY

FAMILIES = sorted(REGISTRY)


def make(family):
    torch.manual_seed(0)
    return REGISTRY[family](TINY[family])


def example_input(model):
    """What the family reads: (4, 16) codes for a model of codes, else (4, 3, 16, 16) images."""
    g = torch.Generator().manual_seed(1)
    if model.trains_on == "codes":
        return torch.randint(0, 32, (4, 16), generator=g)
    return torch.rand(4, 3, 16, 16, generator=g) * 2 - 1


def output(model, x):
    """Through the family's surface: reconstructions, or next-code logits, or seeded samples."""
    model.eval()
    with torch.no_grad():
        if model.reconstructs:
            return model.reconstruct(x)
        if model.samples_codes:
            return model(x)
        return model.sample(4, generator=torch.Generator().manual_seed(2))


@pytest.mark.parametrize("family", FAMILIES)
def test_shapes_and_finite(family):
    model = make(family)
    y = output(model, example_input(model))
    expected = (4, 16, 32) if model.samples_codes else (4, 3, 16, 16)
    assert tuple(y.shape) == expected
    assert torch.isfinite(y).all()
    if not model.samples_codes:
        assert y.min() >= -1 and y.max() <= 1


@pytest.mark.parametrize("family", FAMILIES)
def test_save_load_round_trip_is_identical(family, tmp_path):
    model = make(family)
    x = example_input(model)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "config.json").is_file()
    loaded = REGISTRY[family].from_pretrained(tmp_path)
    assert loaded.config == model.config
    assert torch.equal(output(model, x), output(loaded, x))


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


def objective(model, x, critic):
    return model.training_loss(x, 0, critic, torch.Generator().manual_seed(3))[0]


@pytest.mark.parametrize("family", ["ae", "vae", "vqgan", "transformer"])  # the GAN's two losses: below
def test_one_step_lowers_the_loss(family):
    model = make(family)
    x = example_input(model)
    critic = model.make_critic()  # the VQGAN's patch discriminator scores its reconstructions (tiny disc_start = 0)
    opt = torch.optim.Adam(model.trainable_parameters(), lr=1e-3)
    model.train()
    before = objective(model, x, critic)
    opt.zero_grad()
    before.backward()
    opt.step()
    model.eval()  # the quantizer updates usage only in training mode: measure without side effects
    with torch.no_grad():
        after = objective(model, x, critic)
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
