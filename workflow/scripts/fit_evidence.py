from pathlib import Path

from irsynth import pipeline

with pipeline.log_to(snakemake.log[0]):
    pipeline.fit_evidence(
        snakemake.input,
        snakemake.output,
        Path(snakemake.params.data_dir),
        snakemake.config,
        Path(snakemake.params.cache_dir),
    )
