"""Rule split_signatures: perturbation-balanced target / test sets; the rest is the source."""

from dvgs.io.atomic import write_tsv
from dvgs.lincs.release import read_table
from dvgs.lincs.splits import split_signatures
from dvgs.logs import setup_logging

snakemake = globals()["snakemake"]
setup_logging(snakemake.log)
signatures = read_table(snakemake.input.signatures).merge(
    read_table(snakemake.input.apc)[["sig_id", "apc"]], on="sig_id", validate="one_to_one"
)
split = split_signatures(
    signatures,
    n_target=snakemake.params.n_target,
    n_test=snakemake.params.n_test,
    seed=snakemake.params.seed,
    mode=snakemake.wildcards.mode,
    apc_threshold=snakemake.params.apc_threshold,
)
write_tsv(split, snakemake.output[0])
