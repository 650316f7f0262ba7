"""Rule aggregate_values: combine shards and seeds into one value per signature."""

from dvgs.io.atomic import write_tsv
from dvgs.lincs.release import read_table
from dvgs.lincs.valuation import aggregate_values
from dvgs.logs import setup_logging

snakemake = globals()["snakemake"]
setup_logging(snakemake.log)
values = aggregate_values(
    [read_table(path) for path in snakemake.input],
    seeds=snakemake.params.seeds,
    n_shards=snakemake.params.n_shards,
)
write_tsv(values, snakemake.output[0], float_format="%.9g")
