from pathlib import Path

from irsynth import pipeline

with pipeline.log_to(snakemake.log[0]):
    pipeline.report(
        {name: Path(path) for name, path in snakemake.input.items()},
        snakemake.config,
        Path(snakemake.output.html),
        Path(snakemake.params.history),
        snakemake.params.command,
        Path(snakemake.params.figures),
    )
