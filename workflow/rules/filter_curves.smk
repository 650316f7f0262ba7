rule filter_curves:
    input:
        level5=release_file("level5"),
        split="results/splits/{release}/{mode}/split.tsv",
        genes="results/release/{release}/genes.tsv",
        signatures="results/release/{release}/signatures.tsv",
        apc="results/apc/{release}/apc.tsv",
        values="results/valuation/{release}/{mode}/values.tsv",
    output:
        "results/filter_curves/{release}/{mode}/filter_curves.tsv",
    params:
        fractions=config["filter_curves"]["fractions"],
        seeds=config["filter_curves"]["seeds"],
        epochs=config["filter_curves"]["epochs"],
        batch_size=config["filter_curves"]["batch_size"],
        lr=config["filter_curves"]["lr"],
        hidden=config["valuation"]["hidden"],
        latent=config["valuation"]["latent"],
        device=config["valuation"]["device"],
    threads: config["filter_curves"]["threads"]
    log:
        "logs/filter_curves/{release}/{mode}/filter_curves.log",
    benchmark:
        "benchmarks/filter_curves/{release}/{mode}/filter_curves.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/filter_curves.py"
