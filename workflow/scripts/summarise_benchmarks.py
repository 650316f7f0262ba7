"""Rule summarise_benchmarks: summary.tsv (mean / sd over repeats), paper comparison, figures."""

from dvgs.evaluation.benchmark_plots import write_benchmark_summary
from dvgs.logs import setup_logging

snakemake = globals()["snakemake"]
setup_logging(snakemake.log)
write_benchmark_summary(list(snakemake.input), dict(snakemake.output.items()))
