"""Device plumbing, tested on the CPU (no GPU here): an explicit device reaches every model and the
detector, CODESWAP_DEVICE overrides the default, and no code path names a device of its own."""

from __future__ import annotations

import re

import pytest
import torch

from pipelines import FaceSwapPipeline, SamplingPipeline
from pipelines.device import ENV_VAR, choose_device

from ..conftest import ROOT


def test_choose_device(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert choose_device() == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv(ENV_VAR, "cpu")
    assert choose_device() == torch.device("cpu")
    assert choose_device("cuda:1") == torch.device("cuda", 1)  # an explicit choice wins over the environment
    with pytest.raises(ValueError, match="not a torch device"):
        choose_device("gpu please")


def test_pipelines_put_every_model_and_the_detector_on_their_device(monkeypatch, swapper):
    monkeypatch.setenv(ENV_VAR, "cpu")
    pipe = FaceSwapPipeline(swapper.vqgan, swapper.transformer)  # device from the environment
    assert pipe.device == torch.device("cpu") and str(pipe.detector.device) == "cpu"
    sampler = SamplingPipeline(**SamplingPipeline.from_pretrained(detector=pipe.detector).models, detector=pipe.detector, device="cpu")
    models = [pipe.vqgan, pipe.transformer, *sampler.models.values()]
    assert {p.device for m in models for p in m.parameters()} == {torch.device("cpu")}
    assert sampler.sample("gan", 2, seed=1).shape[0] == 2


def test_no_module_names_a_device_of_its_own():
    """Devices come from pipelines/device.py or from the model's own weights, never a literal."""
    literal = re.compile(r"""device\s*=\s*["'](cpu|cuda)""")
    offenders = [
        f"{path.relative_to(ROOT)}:{i}"
        for folder in ("models", "pipelines")
        for path in (ROOT / folder).glob("*.py")
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if literal.search(line)
    ]
    assert offenders == []
