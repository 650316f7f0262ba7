rule download_release_file:
    output:
        f"{config['downloads_dir']}/{{release}}/{{filename}}",
    params:
        overrides=config.get("releases", {}).get(RELEASE_NAME),
    log:
        "logs/download/{release}/{filename}.log",
    retries: 2
    localrule: True
    conda:
        "../../envs/io.yaml"
    script:
        "../scripts/download_release_file.py"


rule gunzip_release_file:
    input:
        f"{config['downloads_dir']}/{{release}}/{{unzipped}}.gz",
    output:
        f"{config['downloads_dir']}/{{release}}/{{unzipped}}",
    log:
        "logs/download/{release}/{unzipped}.gunzip.log",
    conda:
        "../../envs/io.yaml"
    script:
        "../scripts/gunzip_release_file.py"


rule simulate_release:
    output:
        **{
            key: f"{config['downloads_dir']}/simulated/{name}"
            for key, name in SIMULATED_FILES.items()
        },
    params:
        settings=config.get("simulation", {}),
    log:
        "logs/download/simulated/simulate_release.log",
    conda:
        "../../envs/io.yaml"
    script:
        "../scripts/simulate_release.py"


ruleorder: simulate_release > gunzip_release_file > download_release_file
