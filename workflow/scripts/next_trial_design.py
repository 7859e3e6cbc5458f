from pathlib import Path

from irsynth import nexttrial_stage
from irsynth.pipeline import log_to

with log_to(snakemake.log[0]):
    nexttrial_stage.first_batch_and_funnel(
        snakemake.input,
        snakemake.wildcards.design,
        snakemake.config,
        Path(snakemake.params.data_dir),
        snakemake.output,
        snakemake.threads,
        [Path(folder) for folder in snakemake.params.cache_dirs],
    )
