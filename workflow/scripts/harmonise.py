from pathlib import Path

from irsynth import pipeline

with pipeline.log_to(snakemake.log[0]):
    pipeline.harmonise(
        Path(snakemake.input.arms).parent,
        Path(snakemake.params.data_dir),
        snakemake.config,
        Path(snakemake.output.values).parent,
    )
