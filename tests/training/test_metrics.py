"""The learning-rate schedule and the Frechet distance, on inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from training.identity import frechet_distance
from training.train import lr_at


def test_learning_rate_warms_up_then_decays_to_its_floor():
    lrs = [lr_at(s, 1e-3, warmup=10, total=100) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)  # linear warm-up over 10 steps
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))  # then never rises
    assert lr_at(100, 1e-3, 10, 100) == pytest.approx(1e-4)  # cosine to min_ratio * base at the end
    assert lr_at(55, 1e-3, 10, 100) == pytest.approx(1e-4 + 0.5 * 9e-4)  # half way: the midpoint


def test_frechet_distance_of_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, (20000, 3))
    b = rng.normal(0.5, 2.0, (20000, 3))
    # ||mu_a - mu_b||^2 + tr(Sa + Sb - 2 (Sa Sb)^(1/2)) = 3 * 0.25 + 3 * (1 + 4 - 2 * 2) = 3.75
    assert frechet_distance(a, b) == pytest.approx(3.75, rel=0.05)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, rng.normal(0.0, 1.0, (20000, 3))) < 0.01  # two samples of one distribution
