import re
from pathlib import Path

from dvgs.io.releases import get_release
from dvgs.lincs.simulate import FILES as SIMULATED_FILES

RELEASE_NAME = config["release"]
DOWNLOADS = Path(config["downloads_dir"]) / RELEASE_NAME
if RELEASE_NAME == "simulated":
    # written by rule simulate_release (config key `simulation`), LINCS2020 layout
    RELEASE_FORMAT = "lincs2020"
    RELEASE_FILENAMES = dict(SIMULATED_FILES)
    FILES_BY_NAME = {}
else:
    RELEASE = get_release(RELEASE_NAME, (config.get("releases") or {}).get(RELEASE_NAME))
    RELEASE_FORMAT = RELEASE.format
    RELEASE_FILENAMES = {key: f.filename for key, f in RELEASE.files.items()}
    FILES_BY_NAME = {f.filename: f for f in RELEASE.files.values()}
# checksum listing of the release (GEO's SHA512SUMS, the example's SHA256SUMS): fetched once by
# rule download_checksum_listing before any release file, so parallel downloads never race on it
CHECKSUM_LISTING = (
    str(DOWNLOADS / Path(RELEASE.checksums_url).name)
    if RELEASE_NAME != "simulated" and RELEASE.checksums_url
    else None
)
SEEDS = config["valuation"]["seeds"]
SHARDS = list(range(config["valuation"]["n_shards"]))
MODES = config["split"]["modes"]
# the config keys LINCS results depend on (recorded in provenance; benchmark keys excluded so
# that changing them does not rerun LINCS rules)
LINCS_KEYS = (
    "release", "releases", "downloads_dir", "signature_filters", "apc", "split", "valuation",
    "filter_curves", "quality", "simulation",
)
LINCS_CONFIG = {key: config[key] for key in LINCS_KEYS if key in config}


wildcard_constraints:
    release=RELEASE_NAME,
    seed=r"\d+",
    shard=r"\d+",
    mode="|".join(MODES),
    filename="|".join(re.escape(name) for name in FILES_BY_NAME) or "(?!)",
    unzipped="|".join(re.escape(n[: -len(".gz")]) for n in FILES_BY_NAME if n.endswith(".gz"))
    or "(?!)",


def release_file(key):
    """Staged path of one file of the configured release (level4, siginfo, ...).

    Compressed GCTX files (GEO) are read after rule gunzip_release_file decompressed them.
    """
    name = RELEASE_FILENAMES[key]
    if key in ("level4", "level5") and name.endswith(".gz"):
        name = name[: -len(".gz")]
    return str(DOWNLOADS / name)


def release_inputs():
    keys = ["level4", "level5", "siginfo", "instinfo", "geneinfo"]
    if "sigmetrics" in RELEASE_FILENAMES:  # GEO keeps signature QC in a separate table
        keys.append("sigmetrics")
    return {key: release_file(key) for key in keys}


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
