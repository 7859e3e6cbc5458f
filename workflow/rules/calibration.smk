# The simulation proof as a workflow target (`snakemake calibration`; not part of `all`): scenarios x batches of
# replications scatter over jobs, one gather summarises them (irsynth.calibration). On one machine the batches share
# its cores; with `--profile profiles/slurm` each batch is a SLURM job with the resources set here.
import math

from irsynth.calibration import batches

CALIBRATION = config["calibration"]
CALIBRATION_BATCHES = batches(CALIBRATION["replications"], CALIBRATION["batch_size"])


def calibration_indices(wildcards):
    """The replication indices of one batch (a change of `replications` re-runs only the batches it changes)."""
    return list(CALIBRATION_BATCHES[int(wildcards.batch)])


def calibration_runtime(wildcards, attempt):
    """Minutes of one batch: imports and compiling the model take 1-3 min of CPU (more on a busy machine), then at
    most 10 s per replication (measured 2-7 s at 4 chains x 500 draws); doubled at each retry."""
    return attempt * (10 + math.ceil(CALIBRATION["batch_size"] * 10 / 60))


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
        runtime=calibration_runtime,
    params:
        indices=calibration_indices,
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
