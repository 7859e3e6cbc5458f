from pathlib import Path

from irsynth import nexttrial_stage
from irsynth.pipeline import log_to

with log_to(snakemake.log[0]):
    nexttrial_stage.gather(
        snakemake.input.batches,
        snakemake.input.funnels,
        snakemake.config,
        Path(snakemake.params.data_dir),
        snakemake.output,
    )
