"""Rule summarise_benchmarks: summary.tsv (mean / sd over repeats), paper comparison, figures."""

from dvgs.evaluation.benchmark import compare_with_paper, read_results, summarise_benchmarks
from dvgs.evaluation.benchmark_plots import plot_benchmark_filter_curves, plot_benchmark_scores
from dvgs.io.atomic import write_tsv
from dvgs.logs import setup_logging

snakemake = globals()["snakemake"]
setup_logging(snakemake.log)
results = read_results(snakemake.input)
summary = summarise_benchmarks(results)
write_tsv(results, snakemake.output.results, float_format="%.9g")
write_tsv(summary, snakemake.output.summary, float_format="%.6g")
write_tsv(compare_with_paper(summary), snakemake.output.comparison, float_format="%.4g")
plot_benchmark_scores(summary, snakemake.output.scores)
plot_benchmark_filter_curves(summary, snakemake.output.curves)
