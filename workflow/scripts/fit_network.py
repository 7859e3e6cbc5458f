from pathlib import Path

from irsynth import pipeline

with pipeline.log_to(snakemake.log[0]):
    pipeline.fit_network(
        Path(snakemake.input.changes),
        Path(snakemake.params.data_dir),
        snakemake.config,
        Path(snakemake.output.summary),
        Path(snakemake.output.network),
        Path(snakemake.output.node_split),
        Path(snakemake.output.diagnostics),
        Path(snakemake.params.cache_dir),
    )
