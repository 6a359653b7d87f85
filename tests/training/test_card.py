"""The shipped model cards are Hub model cards: huggingface_hub reads their metadata."""

from __future__ import annotations

import pytest
from huggingface_hub import ModelCard

from models import REGISTRY

from ..conftest import WEIGHTS


@pytest.mark.parametrize("family", sorted(REGISTRY))
def test_shipped_card_reads_as_a_hub_model_card(family):
    card = ModelCard.load(WEIGHTS / family / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "other" and data["license_name"] and data["library_name"] == "pytorch"
    assert data["pipeline_tag"] == REGISTRY[family].hub_pipeline_tag
    assert "celeba" in data["datasets"] and family in data["tags"]
    assert f"# CodeSwap {family}" in card.text and "non-commercial" in card.text
