from irsynth import calibration, pipeline

with pipeline.log_to(snakemake.log[0]):
    calibration.gather(
        snakemake.input.scores,
        snakemake.output.scores,
        snakemake.output.summary,
        snakemake.output.report,
        snakemake.params.seed,
    )
