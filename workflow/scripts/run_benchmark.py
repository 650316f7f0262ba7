"""Rule run_benchmark: one repeat of one dataset x task x method (metrics + filter curves)."""

from dvgs.evaluation.benchmark import BenchmarkSettings, run_benchmark
from dvgs.io.atomic import write_tsv
from dvgs.logs import setup_logging

snakemake = globals()["snakemake"]
setup_logging(snakemake.log)
table = run_benchmark(
    snakemake.wildcards.dataset,
    snakemake.wildcards.task,
    snakemake.wildcards.method,
    int(snakemake.wildcards.repeat),
    BenchmarkSettings.from_dict(snakemake.params.settings),
    data_dir=snakemake.params.data_dir,
    encoder_path=snakemake.params.encoder,
)
write_tsv(table, snakemake.output[0], float_format="%.9g")
