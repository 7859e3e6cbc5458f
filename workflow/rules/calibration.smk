# The simulation proof as a workflow target (`snakemake calibration`; not part of `all`): scenarios x batches of
# replications scatter over jobs, one gather summarises them (irsynth.calibration). On one machine the batches share
# its cores; with `--profile profiles/slurm` each batch is a SLURM job with the resources set here.
from irsynth import calibration

CALIBRATION = config["calibration"]
CALIBRATION_BATCHES = calibration.batches(CALIBRATION["replications"], CALIBRATION["batch_size"])


rule calibration_batch:
    output:
        scores="results/calibration/batches/{scenario}/{batch}.csv",
    log:
        "results/logs/calibration/{scenario}/{batch}.log",
    benchmark:
        "results/benchmarks/calibration/{scenario}/{batch}.tsv"
    wildcard_constraints:
        scenario="|".join(CALIBRATION["scenarios"]),
        batch=r"\d+",
    # the chains of a fit run on `threads` cores; a batch peaks at about 1 GB
    threads: 1
    resources:
        mem_mb=2000,
        runtime=calibration.batch_runtime(CALIBRATION),
    params:
        indices=calibration.batch_indices(CALIBRATION),
        settings=stage_config("evidence_model", "sampling", "harmonise", "comparisons"),
        calibration={key: CALIBRATION[key] for key in ("seed", "batch_size", "sampling")},
    script:
        "../scripts/calibration_batch.py"


rule calibration:
    input:
        scores=expand(
            "results/calibration/batches/{scenario}/{batch}.csv",
            scenario=CALIBRATION["scenarios"],
            batch=range(len(CALIBRATION_BATCHES)),
        ),
    output:
        scores="results/calibration/scores.csv",
        summary="results/calibration/summary.csv",
        report="results/calibration/calibration.md",
    log:
        "results/logs/calibration/gather.log",
    # seconds of pandas: run by Snakemake itself, not queued on a cluster
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        seed=CALIBRATION["seed"],
    script:
        "../scripts/calibration_gather.py"
