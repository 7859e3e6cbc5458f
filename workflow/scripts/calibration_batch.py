from irsynth import calibration, pipeline

with pipeline.log_to(snakemake.log[0]):
    calibration.run_batch(
        snakemake.wildcards.scenario, snakemake.params.indices, snakemake.config, snakemake.threads
    ).to_csv(snakemake.output.scores, index=False)
