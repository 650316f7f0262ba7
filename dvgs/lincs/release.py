"""Turn a staged release into the pipeline's internal tables."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from dvgs.io import adapters, gctx
from dvgs.io.atomic import write_tsv

logger = logging.getLogger(__name__)


def landmark_gene_ids(genes: pd.DataFrame) -> list[str]:
    """Entrez ids of the landmark genes, in table order."""
    ids = genes.loc[genes["feature_space"] == "landmark", "gene_id"].astype(str).tolist()
    if not ids:
        raise ValueError("gene table: no gene has feature_space == 'landmark'")
    return ids


def prepare_release(
    siginfo: str | Path,
    instinfo: str | Path,
    geneinfo: str | Path,
    level4: str | Path,
    level5: str | Path,
    release_format: str,
    release_name: str,
    out_signatures: str | Path,
    out_instances: str | Path,
    out_genes: str | Path,
    pert_types: Sequence[str] | None = None,
    qc_pass_only: bool = False,
    sigmetrics: str | Path | None = None,
) -> pd.DataFrame:
    """Write internal signature, instance and landmark-gene tables for one release.

    The signature universe is the level-5 file: every level-5 signature must have a row in the
    signature table (else an error lists them); signature-table rows without a level-5 profile
    are left out and counted in the log (a level-5 file usually holds one perturbation type).
    """
    signatures = adapters.load_signatures(
        siginfo,
        release_format,
        release_name,
        pert_types=pert_types,
        qc_pass_only=qc_pass_only,
        metrics_path=sigmetrics,
    )
    instances = adapters.load_instances(instinfo, release_format, release_name)
    genes = adapters.load_genes(geneinfo, release_format, release_name)
    landmarks = landmark_gene_ids(genes)
    for path, label in ((level4, "level-4"), (level5, "level-5")):
        rows = set(gctx.read_ids(path, "row"))
        absent = [g for g in landmarks if g not in rows]
        if absent:
            raise KeyError(
                f"{path}: {len(absent)} landmark genes of {geneinfo} are not rows of the "
                f"{label} file (e.g. {absent[:5]}); check that both come from release "
                f"{release_name!r}"
            )
    level5_ids = gctx.read_ids(level5, "col")
    in_table = set(signatures["sig_id"])
    no_row = [s for s in level5_ids if s not in in_table]
    if no_row and not (pert_types or qc_pass_only):
        raise KeyError(
            f"{siginfo}: {len(no_row)} level-5 signatures of {level5} have no row in the "
            f"signature table (e.g. {no_row[:5]})"
        )
    keep = signatures["sig_id"].isin(set(level5_ids))
    if (~keep).any():
        logger.info(
            "%s: %d signature rows have no level-5 profile in %s and are not scored",
            siginfo,
            int((~keep).sum()),
            level5,
        )
    signatures = signatures[keep].sort_values("sig_id", kind="stable").reset_index(drop=True)
    logger.info(
        "release %s: %d signatures, %d landmark genes",
        release_name,
        len(signatures),
        len(landmarks),
    )
    write_tsv(signatures, out_signatures)
    write_tsv(instances, out_instances)
    write_tsv(genes[genes["gene_id"].astype(str).isin(set(landmarks))], out_genes)
    return signatures


def read_table(path: str | Path) -> pd.DataFrame:
    """Read an internal TSV table with every id column as str."""
    return pd.read_csv(
        path,
        sep="\t",
        dtype={
            "sig_id": str,
            "pert_id": str,
            "gene_id": str,
            "sample_id": str,
            "distil_ids": str,
            "det_plates": str,
            "cell_iname": str,
            "cmap_name": str,
            "pert_idose": str,
            "pert_itime": str,
            "pert_type": str,
        },
        keep_default_na=False,
        na_values=[""],
    )
