from pathlib import Path

from irsynth import pipeline

with pipeline.log_to(snakemake.log[0]):
    table = Path(snakemake.input.table)
    pipeline.validate(table.parent, snakemake.config, {snakemake.wildcards.table: Path(snakemake.output.table)})
