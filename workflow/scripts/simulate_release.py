"""Rule simulate_release: write a simulated release with planted replicate noise."""

from pathlib import Path

from dvgs.lincs.simulate import SimulationSettings, simulate_release
from dvgs.logs import setup_logging

snakemake = globals()["snakemake"]
setup_logging(snakemake.log)
simulate_release(
    Path(snakemake.output.level4).parent, SimulationSettings(**snakemake.params.settings)
)
