"""Perturbation-balanced splits: disjoint, covering, balanced, seeded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dvgs.lincs.splits import split_signatures


def make_signatures(counts: list[int], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pert = np.concatenate([[f"BRD-{k}"] * c for k, c in enumerate(counts)])
    return pd.DataFrame(
        {
            "sig_id": [f"s{i}" for i in range(pert.size)],
            "pert_id": pert,
            "apc": rng.random(pert.size),
        }
    )


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(1, 30), min_size=2, max_size=12),
    frac_t=st.floats(0.05, 0.4),
    frac_v=st.floats(0.05, 0.3),
    seed=st.integers(0, 1000),
)
def test_split_disjoint_covering_seeded(counts, frac_t, frac_v, seed) -> None:
    assume(sum(counts) >= 10)
    sigs = make_signatures(counts)
    split = split_signatures(sigs, frac_t, frac_v, seed)
    assert split["sig_id"].tolist() == sigs["sig_id"].tolist()
    assert set(split["set"]) <= {"target", "test", "source"}
    assert (split["set"] == "source").any()
    again = split_signatures(sigs, frac_t, frac_v, seed)
    pd.testing.assert_frame_equal(split, again)


def test_split_counts_and_fraction() -> None:
    sigs = make_signatures([10] * 20)
    split = split_signatures(sigs, 30, 0.1, seed=3)
    assert (split["set"] == "target").sum() == 30
    assert (split["set"] == "test").sum() == 20


def test_split_is_balanced_by_perturbation() -> None:
    # one compound with 500 signatures and 100 compounds with 5 each
    sigs = make_signatures([500] + [5] * 100)
    split = split_signatures(sigs, 100, 10, seed=0)
    target = split[split["set"] == "target"]
    share_big = (target["pert_id"] == "BRD-0").mean()
    # uniform sampling would give 50%; balanced gives about 1/101 per compound weight
    assert share_big < 0.1
    # many distinct compounds are represented
    assert target["pert_id"].nunique() > 60


def test_high_apc_mode_draws_from_high_apc_only() -> None:
    sigs = make_signatures([20] * 10)
    split = split_signatures(sigs, 20, 10, seed=1, mode="high_apc", apc_threshold=0.5)
    chosen = sigs["apc"][split["set"] != "source"]
    assert (chosen > 0.5).all()


def test_split_too_large_is_a_clear_error() -> None:
    sigs = make_signatures([3, 3])
    with pytest.raises(ValueError, match="n_target"):
        split_signatures(sigs, 4, 2, seed=0)
    with pytest.raises(ValueError, match="mode"):
        split_signatures(sigs, 1, 1, seed=0, mode="nope")
