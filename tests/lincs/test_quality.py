"""Aggregation over seeds/shards, the quality table and its summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dvgs.lincs.quality import build_quality_table, summarise
from dvgs.lincs.valuation import aggregate_values


def shard(ids: list[str], values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"sig_id": ids, "value": values, "value_var": 0.0, "n_snapshots": 3})


def test_aggregate_values_mean_sd_percentile() -> None:
    tables = [
        shard(["a", "b"], [1.0, 2.0]),
        shard(["c"], [3.0]),
        shard(["a", "b"], [3.0, 2.0]),
        shard(["c"], [5.0]),
    ]
    out = aggregate_values(tables, seeds=[0, 1], n_shards=2).set_index("sig_id")
    assert out.loc["a", "dvgs_value"] == 2.0
    assert out.loc["a", "dvgs_sd"] == pytest.approx(np.std([1.0, 3.0], ddof=1))
    assert out.loc["c", "dvgs_value"] == 4.0
    assert (out["dvgs_n_seeds"] == 2).all()
    # a and b tie at 2.0 -> average rank 1.5 of 3
    assert out.loc["a", "dvgs_percentile"] == pytest.approx(50.0)
    assert out.loc["c", "dvgs_percentile"] == pytest.approx(100.0)


def test_aggregate_values_rejects_duplicates_and_partial() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        aggregate_values([shard(["a", "a"], [1, 2])], seeds=[0])
    with pytest.raises(ValueError, match="every seed"):
        aggregate_values([shard(["a"], [1]), shard(["b"], [1])], seeds=[0, 1])
    with pytest.raises(ValueError, match="expected"):
        aggregate_values([shard(["a"], [1])], seeds=[0, 1])


def fixture_tables():
    signatures = pd.DataFrame(
        {
            "sig_id": ["s1", "s2", "s3", "s4"],
            "pert_id": ["p1", "p1", "p2", "p3"],
            "cmap_name": ["x", "x", "y", "z"],
            "cell_iname": ["A375", "A375", "MCF7", "MCF7"],
            "pert_idose": ["10 uM"] * 4,
            "pert_itime": ["24 h"] * 4,
            "pert_type": ["trt_cp"] * 4,
            "det_plates": ["P1|P2", "P1", "P2", ""],
            "cc_q75": [0.3, np.nan, 0.1, 0.2],
        }
    )
    apc = pd.DataFrame(
        {
            "sig_id": ["s1", "s2", "s3", "s4"],
            "n_replicates_listed": [2, 1, 3, 0],
            "n_replicates_used": [2, 1, 3, 0],
            "apc": [0.4, np.nan, 0.2, np.nan],
            "apc_status": ["ok", "single_replicate", "ok", "no_replicates_listed"],
        }
    )
    split = pd.DataFrame(
        {"sig_id": ["s1", "s2", "s3", "s4"], "set": ["source", "source", "source", "target"]}
    )
    values = aggregate_values([shard(["s1", "s2", "s3"], [0.5, 0.1, 0.3])], seeds=[0])
    return signatures, apc, split, values


def test_quality_table_flags_and_statuses() -> None:
    table = build_quality_table(
        *fixture_tables(), target_mode="all", low_percentile=34, high_percentile=90
    )
    by = table.set_index("sig_id")
    assert by.loc["s2", "quality_flag"] == "low"
    assert by.loc["s1", "quality_flag"] == "high"
    assert by.loc["s3", "quality_flag"] == "ok"
    assert pd.isna(by.loc["s4", "quality_flag"])
    assert by.loc["s4", "dvgs_status"] == "in_target_set"
    assert by.loc["s4", "dvgs_n_seeds"] == 0
    assert by.loc["s1", "cc_q75"] == 0.3
    assert (table["target_mode"] == "all").all()


def test_quality_table_rejects_unvalued_source() -> None:
    signatures, apc, split, values = fixture_tables()
    with pytest.raises(ValueError, match="without a DVGS value"):
        build_quality_table(signatures, apc, split, values.iloc[:2], target_mode="all")


def test_summaries_by_plate_explode_plates() -> None:
    table = build_quality_table(*fixture_tables(), target_mode="all", low_percentile=34)
    plates = summarise(table, "det_plate").set_index("det_plate")
    assert plates.loc["P1", "n_signatures"] == 2
    assert plates.loc["P2", "n_signatures"] == 2
    cells = summarise(table, "cell_iname").set_index("cell_iname")
    assert cells.loc["MCF7", "median_apc"] == pytest.approx(0.2)
    assert cells.loc["A375", "fraction_flagged_low"] == pytest.approx(0.5)
