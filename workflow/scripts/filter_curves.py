"""Rule filter_curves: retrain on the source set minus the lowest / highest scored fraction."""

from dvgs.io.atomic import write_tsv
from dvgs.lincs.filter_curves import compute_filter_curves, scores_for_curves
from dvgs.lincs.release import read_table
from dvgs.logs import setup_logging

snakemake = globals()["snakemake"]
setup_logging(snakemake.log)
curves = compute_filter_curves(
    snakemake.input.level5,
    read_table(snakemake.input.split),
    read_table(snakemake.input.genes)["gene_id"].tolist(),
    scores_for_curves(
        read_table(snakemake.input.values),
        read_table(snakemake.input.apc),
        read_table(snakemake.input.signatures),
    ),
    fractions=snakemake.params.fractions,
    seeds=snakemake.params.seeds,
    epochs=snakemake.params.epochs,
    batch_size=snakemake.params.batch_size,
    lr=snakemake.params.lr,
    hidden=snakemake.params.hidden,
    latent=snakemake.params.latent,
    n_hidden_layers=snakemake.params.n_hidden_layers,
    device=snakemake.params.device,
    threads=snakemake.threads,
    progress=True,
)
write_tsv(curves, snakemake.output[0], float_format="%.9g")
