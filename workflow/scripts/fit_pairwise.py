from pathlib import Path

from irsynth import pipeline

with pipeline.log_to(snakemake.log[0]):
    pipeline.fit_pairwise(
        Path(snakemake.input.effects),
        Path(snakemake.params.data_dir),
        snakemake.config,
        Path(snakemake.output.summary),
        Path(snakemake.output.diagnostics),
        Path(snakemake.output.posteriors),
        Path(snakemake.params.cache_dir),
    )
