"""Rule train_benchmark_encoder: the CIFAR10 image encoder of one repeat, fitted on its target set."""

from dvgs.evaluation.benchmark import BenchmarkSettings, fit_benchmark_encoder
from dvgs.io.atomic import write_tsv
from dvgs.logs import setup_logging

snakemake = globals()["snakemake"]
setup_logging(snakemake.log)
table = fit_benchmark_encoder(
    int(snakemake.wildcards.repeat),
    BenchmarkSettings.from_dict(snakemake.params.settings),
    data_dir=snakemake.params.data_dir,
    path=snakemake.output[0],
)
write_tsv(table, snakemake.output.table, float_format="%.6g")
