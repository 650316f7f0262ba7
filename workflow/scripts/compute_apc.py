"""Rule compute_apc: APC per signature in one streaming pass over level 4."""

from dvgs.io.atomic import write_tsv
from dvgs.lincs.apc import compute_apc
from dvgs.lincs.release import read_table
from dvgs.logs import setup_logging

snakemake = globals()["snakemake"]
setup_logging(snakemake.log)
genes = read_table(snakemake.input.genes)
apc = compute_apc(
    snakemake.input.level4,
    read_table(snakemake.input.signatures),
    gene_ids=genes["gene_id"].tolist(),
    block_size=snakemake.params.block_size,
    max_open_signatures=snakemake.params.max_open_signatures,
    progress=True,
)
write_tsv(apc, snakemake.output[0], float_format="%.9g")
