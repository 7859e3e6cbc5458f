from pathlib import Path

from irsynth import pipeline

with pipeline.log_to(snakemake.log[0]):
    pipeline.effects(
        Path(snakemake.input.changes),
        Path(snakemake.params.data_dir),
        snakemake.config,
        Path(snakemake.output.contrasts),
    )
