"""Removal order of the filter curves."""

from __future__ import annotations

import numpy as np
import pytest

from dvgs.lincs.filter_curves import removal_order


def test_removal_order_ranks_scores_and_shuffles_missing() -> None:
    scores = np.array([0.5, np.nan, 0.1, np.nan, 0.9, np.nan, np.nan, 0.3])
    low = removal_order(scores, "low", np.random.default_rng(0))
    high = removal_order(scores, "high", np.random.default_rng(0))
    missing = {1, 3, 5, 6}
    assert set(low[:4]) == missing and list(low[4:]) == [2, 7, 0, 4]
    assert list(high[:4]) == [4, 0, 7, 2] and set(high[4:]) == missing
    assert sorted(low) == list(range(8)) and sorted(high) == list(range(8))
    # the unscored are not removed in input (sig_id) order, and the order is seeded
    orders = {tuple(removal_order(scores, "low", np.random.default_rng(s))[:4]) for s in range(20)}
    assert len(orders) > 1
    again = removal_order(scores, "low", np.random.default_rng(0))
    np.testing.assert_array_equal(low, again)
    with pytest.raises(ValueError, match="direction"):
        removal_order(scores, "middle", np.random.default_rng(0))
