import re
from pathlib import Path

from dvgs.io.releases import get_release

RELEASE_NAME = config["release"]
RELEASE = get_release(RELEASE_NAME, config.get("releases") or None)
DOWNLOADS = Path(config["downloads_dir"]) / RELEASE_NAME
SEEDS = config["valuation"]["seeds"]
SHARDS = list(range(config["valuation"]["n_shards"]))
MODES = config["split"]["modes"]
FILES_BY_NAME = {f.filename: f for f in RELEASE.files.values()}


wildcard_constraints:
    release=RELEASE_NAME,
    seed=r"\d+",
    shard=r"\d+",
    mode="|".join(MODES),
    filename="|".join(re.escape(name) for name in FILES_BY_NAME),


def release_file(key):
    """Staged path of one file of the configured release (level4, siginfo, ...)."""
    return str(DOWNLOADS / RELEASE.files[key].filename)


def release_inputs():
    return {key: release_file(key) for key in ("level4", "level5", "siginfo", "instinfo", "geneinfo")}


def quality_dir(mode):
    return f"results/quality/{RELEASE_NAME}/{mode}"


def final_outputs():
    outputs = []
    for mode in MODES:
        base = quality_dir(mode)
        outputs += [
            f"{base}/signature_quality.tsv",
            f"{base}/signature_quality.parquet",
            f"{base}/provenance.json",
            f"{base}/summary_by_cell_iname.tsv",
            f"{base}/summary_by_pert_id.tsv",
            f"{base}/summary_by_det_plate.tsv",
            f"{base}/figures/distributions.png",
            f"{base}/figures/value_vs_apc.png",
            f"{base}/figures/filter_curves.png",
            f"{base}/figures/by_cell_iname.png",
            f"{base}/figures/by_det_plate.png",
        ]
    return outputs
