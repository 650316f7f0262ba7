"""The per-signature quality table and its summaries."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

ANNOTATION_COLUMNS = [
    "sig_id",
    "pert_id",
    "cmap_name",
    "cell_iname",
    "pert_idose",
    "pert_itime",
    "pert_type",
    "det_plates",
]
QC_COLUMNS = ["nsample", "cc_q75", "ss_ngene", "tas", "pct_self_rank_q25", "is_hiq", "qc_pass"]
SET_TO_STATUS = {"source": "valued", "target": "in_target_set", "test": "in_test_set"}


def build_quality_table(
    signatures: pd.DataFrame,
    apc: pd.DataFrame,
    split: pd.DataFrame,
    values: pd.DataFrame,
    target_mode: str,
    low_percentile: float = 10.0,
    high_percentile: float = 90.0,
) -> pd.DataFrame:
    """One row per signature: annotations, APC, DVGS value, flag and CMap QC fields.

    Signatures in the target or test set are not valued (``dvgs_status`` says which set);
    ``quality_flag`` is ``low`` / ``ok`` / ``high`` by DVGS percentile and empty when there is
    no value.
    """
    if not 0 <= low_percentile < high_percentile <= 100:
        raise ValueError(
            "quality flags: need 0 <= low_percentile < high_percentile <= 100, got "
            f"{low_percentile}, {high_percentile}"
        )
    table = signatures[[c for c in ANNOTATION_COLUMNS if c in signatures.columns]].copy()
    table["sig_id"] = table["sig_id"].astype(str)
    apc_part = apc[["sig_id", "n_replicates_listed", "n_replicates_used", "apc", "apc_status"]]
    table = table.merge(apc_part, on="sig_id", how="left", validate="one_to_one")
    table = table.merge(split[["sig_id", "set"]], on="sig_id", how="left", validate="one_to_one")
    table = table.merge(values, on="sig_id", how="left", validate="one_to_one")
    if table["set"].isna().any():
        missing = table.loc[table["set"].isna(), "sig_id"].head(5).tolist()
        raise ValueError(f"quality table: signatures missing from the split table: {missing}")
    table = table.rename(columns={"set": "split_set"})
    unvalued_sources = (table["split_set"] == "source") & table["dvgs_value"].isna()
    if unvalued_sources.any():
        missing = table.loc[unvalued_sources, "sig_id"].head(5).tolist()
        raise ValueError(f"quality table: source signatures without a DVGS value: {missing}")
    table["dvgs_status"] = table["split_set"].map(SET_TO_STATUS)
    pct = table["dvgs_percentile"]
    flag = np.where(pct <= low_percentile, "low", np.where(pct >= high_percentile, "high", "ok"))
    table["quality_flag"] = pd.Series(flag, index=table.index, dtype="str").where(pct.notna())
    table["target_mode"] = target_mode
    table["dvgs_n_seeds"] = table["dvgs_n_seeds"].fillna(0).astype("int64")
    for column in QC_COLUMNS:
        if column in signatures.columns:
            table[column] = signatures[column].to_numpy()
    return table.sort_values("sig_id", kind="stable").reset_index(drop=True)


def summarise(table: pd.DataFrame, by: str) -> pd.DataFrame:
    """Per-group summary: n_signatures, median DVGS percentile, fraction flagged low, median APC.

    ``by`` is a column of the quality table (``cell_iname``, ``pert_id``) or ``det_plate``, for
    which each signature counts once for every plate its replicates were measured on.
    """
    data = table
    if by == "det_plate":
        plates = table["det_plates"].fillna("").astype(str).str.split("|")
        data = table.assign(det_plate=plates).explode("det_plate")
        data = data[data["det_plate"].astype(str) != ""]
    if by not in data.columns:
        raise KeyError(f"summary: quality table has no column {by!r}")
    grouped = data.groupby(by, sort=True)
    valued = data["dvgs_value"].notna()
    out = pd.DataFrame(
        {
            "n_signatures": grouped.size(),
            "n_valued": valued.groupby(data[by]).sum().astype("int64"),
            "median_dvgs_percentile": grouped["dvgs_percentile"].median(),
            "fraction_flagged_low": (data["quality_flag"] == "low")
            .groupby(data[by])
            .sum()
            .div(valued.groupby(data[by]).sum().replace(0, np.nan)),
            "median_apc": grouped["apc"].median(),
            "n_with_apc": grouped["apc"].count().astype("int64"),
        }
    ).reset_index()
    if by == "pert_id" and "cmap_name" in data.columns:  # compound names next to BRD ids
        names = grouped["cmap_name"].agg(lambda s: "|".join(dict.fromkeys(s.dropna().astype(str))))
        out.insert(1, "cmap_name", out[by].map(names))
    return out.sort_values(["n_signatures", by], ascending=[False, True], kind="stable")


def write_quality_outputs(
    signatures: str,
    apc: str,
    split: str,
    values: str,
    release_files: dict[str, str],
    outputs: dict[str, str],
    release: str,
    target_mode: str,
    low_percentile: float,
    high_percentile: float,
    config: dict,
    seeds: list[int],
    device: str,
) -> pd.DataFrame:
    """Build the quality table and write TSV, Parquet, the three summaries and provenance.

    ``outputs`` needs keys ``tsv, parquet, by_cell, by_pert, by_plate, provenance``.
    """
    from dvgs.io.atomic import write_parquet, write_tsv
    from dvgs.lincs.release import read_table
    from dvgs.provenance import write_provenance

    table = build_quality_table(
        read_table(signatures),
        read_table(apc),
        read_table(split),
        read_table(values),
        target_mode=target_mode,
        low_percentile=low_percentile,
        high_percentile=high_percentile,
    )
    table.insert(1, "release", release)
    write_tsv(table, outputs["tsv"], float_format="%.9g")
    write_parquet(table, outputs["parquet"])
    for key, by in (("by_cell", "cell_iname"), ("by_pert", "pert_id"), ("by_plate", "det_plate")):
        write_tsv(summarise(table, by), outputs[key], float_format="%.9g")
    write_provenance(
        outputs["provenance"],
        release=release,
        inputs=release_files,
        config=config,
        seeds=seeds,
        device=device,
    )
    return table
