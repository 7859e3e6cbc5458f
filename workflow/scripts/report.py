from pathlib import Path

from irsynth import pipeline

with pipeline.log_to(snakemake.log[0]):
    pipeline.report(Path("results"), snakemake.config, Path(snakemake.output[0]), snakemake.params.command)
