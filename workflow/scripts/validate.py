from pathlib import Path

from irsynth import pipeline

with pipeline.log_to(snakemake.log[0]):
    output = Path(snakemake.output[0])
    pipeline.validate(Path(snakemake.params.data_dir), snakemake.config, output.parent, tables=[output.stem])
