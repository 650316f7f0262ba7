"""DVGS values for LINCS level-5 signatures: one seed (and shard) per call, then aggregation."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from dvgs.io import gctx
from dvgs.models.autoencoder import Autoencoder
from dvgs.valuation.dvgs import DVGSSettings, value_sources
from dvgs.valuation.engine import mse_loss_per_sample

logger = logging.getLogger(__name__)


def load_split_matrices(
    level5_path: str | Path, split: pd.DataFrame, gene_ids: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[str], list[str]]:
    """Level-5 profiles (landmark genes) of the target, test and source signatures."""
    out = []
    for name in ("target", "test", "source"):
        ids = split.loc[split["set"] == name, "sig_id"].astype(str).tolist()
        matrix, _, _ = gctx.read_gctx(level5_path, sample_ids=ids, gene_ids=gene_ids)
        bad = ~np.isfinite(matrix).all(axis=1)
        if bad.any():
            examples = [ids[i] for i in np.flatnonzero(bad)[:5]]
            raise ValueError(
                f"{level5_path}: {int(bad.sum())} level-5 profiles of the {name} set contain "
                f"NaN/inf values over the landmark genes (e.g. sig_id {examples}); remove these "
                "signatures with a signature filter or repair the level-5 file"
            )
        out.append((matrix, ids))
    (xt, it), (xv, iv), (xs, is_) = out
    return xt, xv, xs, it, iv, is_


def value_signatures(
    level5_path: str | Path,
    split: pd.DataFrame,
    gene_ids: list[str],
    settings: DVGSSettings,
    seed: int,
    hidden: int = 256,
    latent: int = 64,
    n_hidden_layers: int = 1,
    dropout: float = 0.0,
    shard_index: int = 0,
    n_shards: int = 1,
    checkpoint_path: str | Path | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """DVGS value of every source signature in one shard, for one seed.

    The autoencoder (n_genes -> hidden -> latent -> hidden -> n_genes) is trained on the target
    set; each source signature's value is the mean over steps of the cosine similarity between
    its own reconstruction-loss gradient and the target-batch gradient. Returns ``sig_id,
    value, value_var, n_snapshots`` for the shard's source signatures.
    """
    x_target, _, x_source, _, _, source_ids = load_split_matrices(level5_path, split, gene_ids)
    n_genes = x_target.shape[1]

    def model_factory() -> Autoencoder:
        return Autoencoder(
            n_genes, hidden=hidden, latent=latent, dropout=dropout, n_hidden_layers=n_hidden_layers
        )

    # identity of the data for the checkpoint: a checkpoint over other rows is never resumed
    digest = hashlib.sha256()
    level5 = Path(level5_path)
    stat = level5.stat()
    digest.update(f"{level5.name}:{stat.st_size}:{stat.st_mtime_ns};{'|'.join(gene_ids)};".encode())
    for name in ("target", "source"):
        ids = split.loc[split["set"] == name, "sig_id"].astype(str)
        digest.update(
            f"{name}:{len(ids)}:{'|'.join(ids)};{hidden},{latent},{n_hidden_layers},{dropout}".encode()
        )
    result = value_sources(
        model_factory,
        mse_loss_per_sample,
        x_target,
        x_target,
        x_source,
        x_source,
        settings,
        seed=seed,
        shard_index=shard_index,
        n_shards=n_shards,
        checkpoint_path=checkpoint_path,
        progress=progress,
        discard_stale_checkpoint=True,
        checkpoint_tag=digest.hexdigest(),
    )
    shard_rows = np.array_split(np.arange(len(source_ids)), n_shards)[shard_index]
    return pd.DataFrame(
        {
            "sig_id": [source_ids[i] for i in shard_rows],
            "value": result.mean,
            "value_var": result.var,
            "n_snapshots": result.n_snapshots,
        }
    )


def aggregate_values(
    shard_tables: Sequence[pd.DataFrame], seeds: Sequence[int], n_shards: int = 1
) -> pd.DataFrame:
    """Combine per-shard, per-seed values by ``sig_id``: mean, sd, n_seeds, percentile rank.

    ``shard_tables`` holds ``n_shards`` tables per seed, seed-major (seed 0 shards 0..k-1, seed 1
    ...). The sd is over seeds (ddof=1; NaN with one seed). The percentile is the rank of the mean
    value among all valued signatures scaled to (0, 100]; ties share the average rank.
    """
    if len(shard_tables) != len(seeds) * n_shards:
        raise ValueError(
            f"aggregate_values: expected {len(seeds)} seeds x {n_shards} shards tables, "
            f"got {len(shard_tables)}"
        )
    frames = []
    for k, seed in enumerate(seeds):
        table = pd.concat(shard_tables[k * n_shards : (k + 1) * n_shards], ignore_index=True)
        if table["sig_id"].duplicated().any():
            dups = table.loc[table["sig_id"].duplicated(), "sig_id"].head(10).tolist()
            raise ValueError(f"seed {seed}: duplicate sig_id in values: {dups}")
        frames.append(table[["sig_id", "value"]].assign(seed=seed))
    long = pd.concat(frames, ignore_index=True)
    counts = long.groupby("sig_id")["seed"].count()
    if (counts != len(seeds)).any():
        partial = counts[counts != len(seeds)].index[:10].tolist()
        raise ValueError(f"aggregate_values: signatures not valued by every seed: {partial}")
    grouped = long.groupby("sig_id", sort=True)["value"]
    out = pd.DataFrame(
        {
            "dvgs_value": grouped.mean(),
            "dvgs_sd": grouped.std(ddof=1),
            "dvgs_n_seeds": grouped.count().astype("int64"),
        }
    ).reset_index()
    ranks = rankdata(out["dvgs_value"].to_numpy(), method="average")
    out["dvgs_percentile"] = 100.0 * ranks / len(out)
    return out
