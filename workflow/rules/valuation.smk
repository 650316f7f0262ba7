# the settings values depend on (params: a change reruns valuation); threads and device are left
# out on purpose: they change speed, not values, and must not redo hours of valuation
VALUATION_KEYS = [
    "epochs", "target_batch_size", "source_batch_size", "lr", "weight_decay", "optimizer",
    "similarity", "every", "restarts", "precision", "source_mode",
]


rule value_signatures:
    input:
        level5=release_file("level5"),
        split="results/splits/{release}/{mode}/split.tsv",
        genes="results/release/{release}/genes.tsv",
    output:
        "results/valuation/{release}/{mode}/seed{seed}/shard{shard}.tsv",
    params:
        settings={
            **{k: config["valuation"][k] for k in VALUATION_KEYS},
            "param_names": config["valuation"]["param_names"] or None,
        },
        model={k: config["valuation"][k] for k in ("hidden", "latent", "n_hidden_layers", "dropout")},
        n_shards=config["valuation"]["n_shards"],
        checkpoint=lambda w: f"results/valuation/{w.release}/{w.mode}/seed{w.seed}/shard{w.shard}.ckpt",
    threads: config["valuation"]["threads"]
    log:
        "logs/valuation/{release}/{mode}/seed{seed}/shard{shard}.log",
    benchmark:
        "benchmarks/valuation/{release}/{mode}/seed{seed}/shard{shard}.tsv"
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/value_signatures.py"


rule aggregate_values:
    input:
        expand(
            "results/valuation/{{release}}/{{mode}}/seed{seed}/shard{shard}.tsv",
            seed=SEEDS,
            shard=SHARDS,
        ),
    output:
        "results/valuation/{release}/{mode}/values.tsv",
    params:
        seeds=SEEDS,
        n_shards=len(SHARDS),
    log:
        "logs/valuation/{release}/{mode}/aggregate_values.log",
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/aggregate_values.py"
