rule compute_apc:
    input:
        level4=release_file("level4"),
        signatures="results/release/{release}/signatures.tsv",
        genes="results/release/{release}/genes.tsv",
    output:
        "results/apc/{release}/apc.tsv",
    params:
        block_size=config["apc"]["block_size"],
        max_open_signatures=config["apc"]["max_open_signatures"],
    log:
        "logs/apc/{release}/compute_apc.log",
    benchmark:
        "benchmarks/apc/{release}/compute_apc.tsv"
    conda:
        "../../envs/io.yaml"
    script:
        "../scripts/compute_apc.py"
