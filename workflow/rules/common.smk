import dataclasses
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
CHECKSUMS_URL = None if RELEASE_NAME == "simulated" else RELEASE.checksums_url
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


def release_file_entry(filename):
    """url, filename, size and checksum of one file of the release (rule download_release_file)."""
    return dataclasses.asdict(FILES_BY_NAME[filename])


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


# ------------------------------------------------------------------ benchmarks (datasets.smk)
from dvgs.datasets import ORIGINAL_SOURCES
from dvgs.datasets.cifar10 import BUNDLED_JPEG
from dvgs.evaluation.suite import METHODS as BENCH_METHODS, UNSUPERVISED_METHODS

BENCH = config["benchmarks"]
# files each dataset is read from: the bundled copy (resources/benchmarks), or the original files
BENCH_FILES = {
    "bundled": {
        "adult": [s.filename for s in ORIGINAL_SOURCES["adult"]],
        "blog": [s.filename for s in ORIGINAL_SOURCES["blog"]],
        "cifar10": [BUNDLED_JPEG.filename],
    },
    "download": {name: [s.filename for s in srcs] for name, srcs in ORIGINAL_SOURCES.items()},
}


wildcard_constraints:
    dataset="adult|blog|cifar10",
    task="label|noise|unsupervised",
    method="|".join(BENCH_METHODS),
    repeat=r"\d+",
    bench_file="|".join(re.escape(n) for names in BENCH_FILES["download"].values() for n in names),


def benchmark_data_dir(dataset):
    """Folder the benchmark reads `dataset` from (config key benchmarks.data)."""
    if BENCH["data"] == "bundled":
        return f"{BENCH['bundled_dir']}/{dataset}"
    return f"{BENCH['download_dir']}/{dataset}"


def benchmark_data_files(dataset):
    return [f"{benchmark_data_dir(dataset)}/{name}" for name in BENCH_FILES[BENCH["data"]][dataset]]


def benchmark_settings(dataset, task, method=None):
    """The settings one (dataset, task, method) job needs (input of
    dvgs.evaluation.benchmark.BenchmarkSettings.from_dict): DVGS settings only for dvgs, baseline
    budgets only for baselines, the encoder only for CIFAR10 supervised tasks, so that changing
    one method's settings reruns only that method's jobs."""
    d = BENCH[dataset]
    shared = ("corruption_fraction", "seed", "filter_fractions", "threads")
    settings = {
        **{key: BENCH[key] for key in shared},
        **{key: d[key] for key in ("n_source", "n_target", "n_test", "noise_max_sd")},
    }
    if task == "unsupervised":
        settings["filter_pca_components"] = BENCH["filter_pca_components"]
    elif dataset == "cifar10":
        settings["encoder"] = BENCH["encoder"]
    if method == "dvgs":
        settings["dvgs"] = d["dvgs"][task]
        settings["device"] = BENCH["device"]
    elif method in BASELINE_KNOBS:
        settings["baselines"] = {k: BENCH["baselines"][k] for k in BASELINE_KNOBS[method]}
    return settings


# the budget knobs each baseline reads (a job's params hold only its own)
BASELINE_KNOBS = {
    "loo": ("loo_metric",),
    "tmc_shapley": ("tmc_permutations", "tmc_truncation_tol", "tmc_patience"),
    "dvrl": ("dvrl_iterations", "dvrl_batch_size"),
    "knn_shapley": ("knn_k",),
    "data_oob": ("oob_estimators",),
}


def benchmark_encoder_settings():
    """Settings the encoder-training job reads: the split sizes and seed, the encoder, threads
    (not corruption or filter settings, which must not retrain the encoders)."""
    d = BENCH["cifar10"]
    return {
        "seed": BENCH["seed"],
        "threads": BENCH["threads"],
        "encoder": BENCH["encoder"],
        **{key: d[key] for key in ("n_source", "n_target", "n_test")},
    }


def benchmark_trained_encoder(wildcards):
    """The repeat's target-trained encoder (CIFAR10 supervised tasks without a pretrained one)."""
    if wildcards.dataset != "cifar10" or wildcards.task == "unsupervised":
        return None
    if BENCH["encoder"]["path"]:
        return None
    return f"results/benchmarks/cifar10/encoder/repeat{wildcards.repeat}.pt"


def benchmark_encoder_input(wildcards):
    trained = benchmark_trained_encoder(wildcards)
    if trained:
        return [trained]
    if wildcards.dataset == "cifar10" and wildcards.task != "unsupervised":
        return [BENCH["encoder"]["path"]]
    return []


def benchmark_results():
    """Per-repeat result tables of the configured suite."""
    paths = []
    for dataset in BENCH["datasets"]:
        d = BENCH[dataset]
        for task in d["tasks"]:
            methods = d["methods"].get(task) or BENCH["methods"]
            if task == "unsupervised":
                methods = [m for m in methods if m in UNSUPERVISED_METHODS]
            for method in methods:
                for repeat in range(BENCH["repeats"]):
                    paths.append(f"results/benchmarks/{dataset}/{task}/{method}/repeat{repeat}.tsv")
    return paths
