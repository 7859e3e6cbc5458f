from pathlib import Path

from irsynth import pipeline

pipeline.harmonise(
    Path(snakemake.input.arms).parent,
    Path(snakemake.params.data_dir),
    snakemake.config,
    Path(snakemake.output.values).parent,
)
