from pathlib import Path

from irsynth import pipeline

with pipeline.log_to(snakemake.log[0]):
    pipeline.fit_evidence(
        Path(snakemake.input.pooled).parent,
        Path(snakemake.input.changes),
        Path(snakemake.input.effects),
        Path(snakemake.params.data_dir),
        snakemake.config,
        Path(snakemake.output.posterior).parent,
        Path(snakemake.params.cache_dir),
    )
