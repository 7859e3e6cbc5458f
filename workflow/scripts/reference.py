from pathlib import Path

from irsynth import pipeline

with pipeline.log_to(snakemake.log[0]):
    pipeline.reference(
        Path(snakemake.input.effects),
        Path(snakemake.params.data_dir),
        snakemake.config,
        Path(snakemake.output.random_effects),
    )
