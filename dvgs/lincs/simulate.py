"""A simulated LINCS release in the LINCS2020 "beta" layout, with planted replicate noise.

Signatures are grouped in brews (cell line x time x batch); each brew has replicate plates
X1..X4 of 384 wells, and the level-4 file is written plate by plate, as CMap's files are, so
the replicates of one signature lie within a few plates of each other. Every signature has a
true landmark profile (a compound effect of rank ``rank`` scaled by dose, plus a cell-line
baseline) and a planted noise sd; each replicate is profile + noise. APC and DVGS can then be
checked against the planted noise (``truth.tsv``).

Level 4 is stored like CMap's files: float32, uncompressed, chunks of 256 samples x 1000 genes,
the 978 landmark rows scattered over the gene axis. Only landmark values carry the ground truth;
the other genes are filled from a fixed pool of Gaussian rows (cheap at 12,328 genes, and never
read by APC or DVGS). Any size can be written in bounded memory (blocks of ``block_rows``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dvgs.io import gctx
from dvgs.io.atomic import write_tsv
from dvgs.lincs.modz import cc_q75, modz
from dvgs.progress import progress_bar

logger = logging.getLogger(__name__)

WELLS_PER_PLATE = 384
N_LANDMARKS = 978
_POOL_ROWS = 512  # rows of reusable noise for the non-landmark genes
DOSES = ("0.04 uM", "0.12 uM", "0.37 uM", "1.11 uM", "3.33 uM", "10 uM")
TIMES = ("6 h", "24 h")
FILES = {
    "level4": "level4_beta_simulated.gctx",
    "level5": "level5_beta_simulated.gctx",
    "siginfo": "siginfo_beta.txt",
    "instinfo": "instinfo_beta.txt",
    "geneinfo": "geneinfo_beta.txt",
    "truth": "truth.tsv",
}


@dataclass(frozen=True)
class SimulationSettings:
    n_signatures: int = 2000
    n_genes: int = 12328  # all genes; the 978 landmark rows are scattered among them
    n_cells: int = 30
    n_compounds: int = 500
    replicate_probs: tuple[float, ...] = (0.08, 0.22, 0.6, 0.1)  # P(1, 2, 3, 4 replicates)
    noise_sd_range: tuple[float, float] = (0.3, 3.0)
    rank: int = 10
    seed: int = 0
    chunk_rows: int = 256  # level-4 chunks: chunk_rows samples x chunk_genes genes
    chunk_genes: int | None = 1000  # cmapPy / CMap layout (256, 1000); None: all genes
    block_rows: int = 8192
    write_level5: bool = True  # False: level 4 and tables only (APC benchmarks)


def _gene_ids(n_genes: int, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """Entrez-like ids; the landmark rows are scattered over the file."""
    ids = [str(1000 + 7 * i) for i in range(n_genes)]
    landmark_pos = np.sort(rng.choice(n_genes, size=min(N_LANDMARKS, n_genes), replace=False))
    return ids, landmark_pos


def _design(settings: SimulationSettings, rng: np.random.Generator) -> pd.DataFrame:
    n = settings.n_signatures
    p = np.asarray(settings.replicate_probs, dtype=float)
    n_rep = rng.choice(np.arange(1, p.size + 1), size=n, p=p / p.sum())
    cells = rng.integers(0, settings.n_cells, size=n)
    times = rng.integers(0, len(TIMES), size=n)
    compounds = rng.integers(0, settings.n_compounds, size=n)
    doses = rng.integers(0, len(DOSES), size=n)
    noise = rng.uniform(*settings.noise_sd_range, size=n)
    design = pd.DataFrame(
        {
            "cell": cells,
            "time": times,
            "compound": compounds,
            "dose": doses,
            "n_rep": n_rep,
            "noise_sd": noise,
        }
    ).sort_values(["cell", "time"], kind="stable")
    # brews of <= 384 signatures within each cell x time
    design["brew_index"] = design.groupby(["cell", "time"]).cumcount() // WELLS_PER_PLATE
    design["well"] = design.groupby(["cell", "time", "brew_index"]).cumcount()
    design["brew"] = [
        f"SIM{b:03d}_C{c:03d}_{TIMES[t].replace(' ', '').upper()}"
        for b, c, t in zip(design["brew_index"], design["cell"], design["time"], strict=True)
    ]
    return design.reset_index(drop=True)


def _well_name(well: int) -> str:
    return f"{'ABCDEFGHIJKLMNOP'[well // 24]}{well % 24 + 1:02d}"


def simulate_release(out_dir: str | Path, settings: SimulationSettings) -> dict[str, Path]:
    """Write a simulated release into ``out_dir``; returns the paths by file key."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(settings.seed)
    gene_ids, landmark_pos = _gene_ids(settings.n_genes, rng)
    n_lm = landmark_pos.size
    design = _design(settings, rng)
    loadings = rng.normal(size=(settings.rank, n_lm)) / np.sqrt(settings.rank)
    compound_effect = rng.normal(size=(settings.n_compounds, settings.rank)) * 2.0
    cell_base = rng.normal(size=(settings.n_cells, n_lm)) * 0.5
    dose_scale = np.linspace(0.3, 1.5, len(DOSES))

    # level-4 rows in file order: brew by brew, plate X1..X4, well order
    rows = []
    for brew, group in design.groupby("brew", sort=True):
        for rep in range(int(group["n_rep"].max())):
            on_plate = group[group["n_rep"] > rep]
            for sig_row, well in zip(on_plate.index, on_plate["well"], strict=True):
                rows.append(
                    (sig_row, f"{brew}_X{rep + 1}", f"{brew}_X{rep + 1}_B1:{_well_name(well)}")
                )
    sig_of_row = np.array([r[0] for r in rows], dtype=np.int64)
    plates = [r[1] for r in rows]
    sample_ids = [r[2] for r in rows]
    n_samples = len(rows)

    design["sig_id"] = [
        f"{b}:BRD-S{c:06d}:{DOSES[d].replace(' ', '')}"
        for b, c, d in zip(design["brew"], design["compound"], design["dose"], strict=True)
    ]
    dup = design["sig_id"].duplicated()
    design.loc[dup, "sig_id"] = design.loc[dup, "sig_id"] + ":" + design.index[dup].astype(str)
    truth_profile = (
        (compound_effect[design["compound"]] @ loadings) * dose_scale[design["dose"]][:, None]
        + cell_base[design["cell"]]
    ).astype(np.float32)

    replicate_rows: dict[int, list[np.ndarray]] = {}
    # Non-landmark genes carry no ground truth and APC / DVGS never read them: their values are
    # rows drawn from a fixed pool of Gaussian noise (10x cheaper than fresh noise for 12,328
    # genes). Landmark noise is fresh for every replicate.
    pool = rng.standard_normal(size=(_POOL_ROWS, settings.n_genes), dtype=np.float32)
    noise_sd = design["noise_sd"].to_numpy(np.float32)
    with gctx.GctxWriter(
        out / FILES["level4"],
        n_samples,
        gene_ids,
        sample_ids,
        chunk_rows=settings.chunk_rows,
        chunk_genes=settings.chunk_genes,
    ) as writer:
        bar = progress_bar(n_samples, "simulate level 4", unit="replicate")
        for start in range(0, n_samples, settings.block_rows):
            stop = min(start + settings.block_rows, n_samples)
            sigs = sig_of_row[start:stop]
            block = pool[rng.integers(0, _POOL_ROWS, size=stop - start)]
            lm_noise = rng.standard_normal(size=(stop - start, n_lm), dtype=np.float32)
            block[:, landmark_pos] = truth_profile[sigs] + noise_sd[sigs][:, None] * lm_noise
            writer.write(start, block)
            if settings.write_level5:
                for k, s in enumerate(sigs.tolist()):
                    replicate_rows.setdefault(s, []).append(block[k, landmark_pos].copy())
            bar.update(stop - start)
        bar.close()

    order = np.argsort(design["sig_id"].to_numpy(), kind="stable")
    level5 = np.zeros((len(design), n_lm), dtype=np.float32)
    cc = np.full(len(design), np.nan)
    if settings.write_level5:
        for s, reps in replicate_rows.items():
            x = np.vstack(reps)
            level5[s], _ = modz(x)
            cc[s] = cc_q75(x)
        full = np.zeros((len(design), settings.n_genes), dtype=np.float32)
        full[:, landmark_pos] = level5
        ids = design["sig_id"].to_numpy()[order].tolist()
        gctx.write_gctx(out / FILES["level5"], full[order], ids, gene_ids)

    distil: dict[int, list[str]] = {}
    det: dict[int, list[str]] = {}
    for s, plate, sid in zip(sig_of_row.tolist(), plates, sample_ids, strict=True):
        distil.setdefault(s, []).append(sid)
        det.setdefault(s, []).append(f"{plate}_B1")
    ss_ngene = (np.abs(level5) >= 2).sum(axis=1)
    siginfo = pd.DataFrame(
        {
            "sig_id": design["sig_id"],
            "pert_id": [f"BRD-S{c:06d}" for c in design["compound"]],
            "cmap_name": [f"compound-{c}" for c in design["compound"]],
            "cell_iname": [f"CELL{c:03d}" for c in design["cell"]],
            "pert_idose": [DOSES[d] for d in design["dose"]],
            "pert_itime": [TIMES[t] for t in design["time"]],
            "pert_type": "trt_cp",
            "distil_ids": ["|".join(distil[s]) for s in range(len(design))],
            "det_plates": ["|".join(det[s]) for s in range(len(design))],
            "nsample": design["n_rep"],
            "cc_q75": cc,
            "ss_ngene": ss_ngene,
            "tas": np.sqrt(ss_ngene * np.clip(np.nan_to_num(cc), 0, None) / n_lm),
            "pct_self_rank_q25": np.nan,
            "is_hiq": np.nan,
            "qc_pass": 1,
        }
    ).iloc[order]
    meta = design.iloc[sig_of_row]
    instinfo = pd.DataFrame(
        {
            "sample_id": sample_ids,
            "det_plate": [f"{p}_B1" for p in plates],
            "rna_plate": plates,
            "pert_id": [f"BRD-S{c:06d}" for c in meta["compound"]],
        }
    )
    instinfo["cell_iname"] = [f"CELL{c:03d}" for c in meta["cell"]]
    instinfo["pert_idose"] = [DOSES[d] for d in meta["dose"]]
    instinfo["pert_itime"] = [TIMES[t] for t in meta["time"]]
    instinfo["pert_type"] = "trt_cp"
    instinfo["cmap_name"] = [f"compound-{c}" for c in meta["compound"]]
    feature = np.full(settings.n_genes, "inferred", dtype=object)
    feature[landmark_pos] = "landmark"
    geneinfo = pd.DataFrame(
        {"gene_id": gene_ids, "gene_symbol": [f"G{g}" for g in gene_ids], "feature_space": feature}
    )
    truth = pd.DataFrame(
        {
            "sig_id": design["sig_id"],
            "noise_sd": design["noise_sd"],
            "n_replicates": design["n_rep"],
        }
    ).iloc[order]
    paths = {key: out / name for key, name in FILES.items()}
    if not settings.write_level5:
        del paths["level5"]
    write_tsv(siginfo, paths["siginfo"], float_format="%.6g")
    write_tsv(instinfo, paths["instinfo"])
    write_tsv(geneinfo, paths["geneinfo"])
    write_tsv(truth, paths["truth"], float_format="%.6g")
    logger.info(
        "simulated release in %s: %d signatures, %d replicates x %d genes",
        out,
        len(design),
        n_samples,
        settings.n_genes,
    )
    return paths
