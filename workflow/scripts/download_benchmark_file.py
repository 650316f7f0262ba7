"""Rule download_benchmark_file: one original file of a benchmark data set, checksum verified."""

from pathlib import Path

from dvgs.datasets import download_source
from dvgs.logs import setup_logging

snakemake = globals()["snakemake"]
setup_logging(snakemake.log)
output = Path(snakemake.output[0])
download_source(snakemake.wildcards.dataset, output.name, output.parent)
