from pathlib import Path

from irsynth import nexttrial_stage
from irsynth.pipeline import log_to

with log_to(snakemake.log[0]):
    nexttrial_stage.funnel(
        snakemake.input,
        snakemake.wildcards.design,
        snakemake.config,
        Path(snakemake.params.data_dir),
        Path(snakemake.output.table),
        snakemake.threads,
        Path(snakemake.params.cache_dir),
    )
