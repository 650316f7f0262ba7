"""Rule plot_figures: the report's figures."""

from dvgs.evaluation.plots import plot_report_figures
from dvgs.logs import setup_logging

snakemake = globals()["snakemake"]
setup_logging(snakemake.log)
plot_report_figures(dict(snakemake.input.items()), dict(snakemake.output.items()))
