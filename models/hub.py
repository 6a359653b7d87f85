"""Weights on disk or on the Hub: model.safetensors + config.json, loaded strictly.

huggingface_hub's PyTorchModelHubMixin writes both files (save_pretrained, push_to_hub) and
resolves a folder or a Hub repo id. Its loader is lenient (strict=False by default, and it falls
back to pickled pytorch_model.bin on the Hub); ours is not: only safetensors, every tensor present
with the right shape, config keys exactly the config dataclass's fields, and every failure raised
as a WeightsError that names the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path

import safetensors.torch
from huggingface_hub import PyTorchModelHubMixin, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class WeightsError(RuntimeError):
    """A weights folder or Hub repo that cannot be loaded; the message names the file."""


def is_hub_repo_id(location: str) -> bool:
    """The one rule for "a folder or a Hub repo id" (a model here, a weights root in pipelines/weights.py):
    a repo id has the form owner/name and is not a path that exists or starts like one (., /, ~)."""
    return not Path(location).exists() and not location.startswith((".", "/", "~")) and location.count("/") == 1


class HubModel(PyTorchModelHubMixin):
    """Mixin for our models. Subclasses take one argument, `config: <Family>Config` (a dataclass)."""

    config_class: type

    @classmethod
    def _resolve(cls, model_id: str, filename: str, **hub_kwargs) -> Path:
        if os.path.isdir(model_id):
            path = Path(model_id) / filename
            if not path.is_file():
                raise WeightsError(f"{path}: missing (a weights folder holds {CONFIG_NAME} and {WEIGHTS_NAME})")
            return path
        if not is_hub_repo_id(model_id):
            raise WeightsError(f"{model_id}: not a weights folder (nor a Hub repo id of the form owner/name)")
        try:
            return Path(hf_hub_download(repo_id=model_id, filename=filename, **hub_kwargs))
        except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as e:
            raise WeightsError(f"{model_id}/{filename}: cannot be fetched from the Hugging Face Hub ({type(e).__name__}: {e})") from None

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path, *, revision=None, cache_dir=None, local_files_only=False, token=None, map_location="cpu"
    ):
        """A folder or Hub repo id -> the model in eval mode, weights loaded strictly."""
        model_id = str(pretrained_model_name_or_path)
        hub = dict(revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token)
        config_path = cls._resolve(model_id, CONFIG_NAME, **hub)
        try:
            raw = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise WeightsError(f"{config_path}: not valid JSON ({e})") from None
        known = {f.name for f in fields(cls.config_class)}
        if not isinstance(raw, dict) or set(raw) - known:
            extra = sorted(set(raw) - known) if isinstance(raw, dict) else raw
            raise WeightsError(f"{config_path}: unknown keys for {cls.__name__}: {extra}")
        try:
            model = cls(cls.config_class(**raw))
        except (TypeError, ValueError) as e:
            raise WeightsError(f"{config_path}: invalid {cls.__name__} config ({e})") from None
        weights_path = cls._resolve(model_id, WEIGHTS_NAME, **hub)
        try:
            safetensors.torch.load_model(model, str(weights_path), strict=True, device=map_location)
        except Exception as e:  # safetensors raises several types for truncated or foreign files
            raise WeightsError(
                f"{weights_path}: does not hold {cls.__name__} weights matching {config_path.name} ({type(e).__name__}: {e})"
            ) from None
        return model.eval()
