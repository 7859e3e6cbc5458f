from pathlib import Path

from irsynth import pipeline

output = Path(snakemake.output[0])
pipeline.validate(Path(snakemake.params.data_dir), snakemake.config, output.parent, tables=[output.stem])
