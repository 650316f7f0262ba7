rule split_signatures:
    input:
        signatures="results/release/{release}/signatures.tsv",
        apc="results/apc/{release}/apc.tsv",
    output:
        "results/splits/{release}/{mode}/split.tsv",
    params:
        n_target=config["split"]["n_target"],
        n_test=config["split"]["n_test"],
        apc_threshold=config["split"]["apc_threshold"],
        seed=config["split"]["seed"],
    log:
        "logs/splits/{release}/{mode}/split_signatures.log",
    conda:
        "../../envs/io.yaml"
    script:
        "../scripts/split_signatures.py"
