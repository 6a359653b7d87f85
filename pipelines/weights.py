"""Where the shipped models come from: weights/ in this repository, another folder, or a Hub repo.

A weights root holds one folder per model family (vqgan/, transformer/, ae/, vae/, gan/), each with
config.json + model.safetensors. A Hub repo id is fetched with huggingface_hub.snapshot_download,
which honours HF_HUB_OFFLINE and the local cache.
"""

from __future__ import annotations

import os
from pathlib import Path

from models import REGISTRY, WeightsError
from models.hub import is_hub_repo_id

DEFAULT_ROOT = Path(__file__).resolve().parents[1] / "weights"
ENV_VAR = "CODESWAP_WEIGHTS"  # a folder or a Hub repo id, used when no root is passed


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    """None -> $CODESWAP_WEIGHTS or ./weights; a folder -> itself; a Hub repo id -> its local snapshot."""
    root = root or os.environ.get(ENV_VAR) or DEFAULT_ROOT
    path = Path(root)
    if path.is_dir():
        return path
    if not is_hub_repo_id(str(root)):
        raise WeightsError(f"{root}: not a weights folder (nor a Hub repo id of the form owner/name)")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=str(root), allow_patterns=["*/config.json", "*/model.safetensors"]))
    except Exception as e:  # network, auth, offline mode without cache: all a WeightsError to the caller
        raise WeightsError(f"{root}: cannot fetch weights from the Hugging Face Hub ({type(e).__name__}: {e})") from None


def load_model(family: str, root: str | os.PathLike | None = None):
    """One model family from a weights root, in eval mode."""
    return REGISTRY[family].from_pretrained(resolve_root(root) / family)


def check_prior(vqgan, transformer) -> None:
    """Raise WeightsError unless the transformer models this VQGAN's codes (vocabulary, codes per
    cell, sequence length): a prior trained on another VQGAN would sample garbage."""
    want = (vqgan.config.codebook_size, vqgan.config.quantizer_depth, vqgan.config.grid_size**2)
    have = (transformer.config.vocab_size, transformer.config.depth, transformer.config.block_size)
    if want != have:
        raise WeightsError(
            f"the transformer (vocabulary {have[0]}, {have[1]} code(s) per cell, {have[2]} cells) does not model "
            f"this VQGAN's codes ({want[0]}, {want[1]}, {want[2]}): retrain it on this VQGAN"
        )
