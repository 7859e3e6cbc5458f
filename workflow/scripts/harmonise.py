from pathlib import Path

from irsynth import pipeline

with pipeline.log_to(snakemake.log[0]):
    pipeline.harmonise(
        Path(snakemake.input.arms),
        Path(snakemake.input.studies),
        Path(snakemake.params.data_dir),
        snakemake.config,
        Path(snakemake.output.values),
        Path(snakemake.output.changes),
    )
