# What trial would settle it: simulated future trials per design, scattered over (design, batch) jobs and gathered.
# A design's first batch and its extended funnel grid run in one job (next_trial_design: one set-up of the model and
# its compiled functions for both); further batches, where next_trial.batch_size splits the simulations, are jobs of
# their own. Each batch's seed follows from next_trial.seed, its design and its number, so a cluster run equals a
# local run.
from irsynth.nexttrial_stage import batch_count

NEXT_TRIAL_DESIGNS = [design["name"] for design in config["next_trial"]["designs"]]
NEXT_TRIAL_BATCHES = list(range(batch_count(config)))
# the settings a further batch depends on (params); in next_trial_design, a change of the funnel grid re-runs the
# job, whose batch is re-used from its store (irsynth.stage_store), and the other way round
NEXT_TRIAL_SIMULATION = {k: v for k, v in config["next_trial"].items() if k != "funnel"}
NEXT_TRIAL_INPUTS = dict(
    pooled="results/validated/pooled.csv",
    studies="results/validated/studies.csv",
    changes=rules.harmonise.output.changes,
    effects=rules.effects.output.contrasts,
    posterior=rules.fit_evidence.output.posterior,
    diagnostics=rules.fit_evidence.output.diagnostics,
)


rule next_trial_design:
    input:
        **NEXT_TRIAL_INPUTS,
    output:
        table="results/next_trial/batches/{design}_0.csv",
        funnel="results/next_trial/funnel/{design}.csv",
    log:
        "results/logs/next_trial/{design}.log",
    benchmark:
        "results/benchmarks/next_trial/{design}.tsv"
    wildcard_constraints:
        design="|".join(NEXT_TRIAL_DESIGNS),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        data_dir=str(DATA_DIR),
        settings=stage_config("decision", "evidence_model", "sampling", "comparisons"),
        next_trial=config["next_trial"],
        # each part's last results, re-used where nothing that informs it changed (not outputs: they outlive the run)
        cache_dirs=lambda wildcards: [
            f"results/cache/next_trial/{wildcards.design}_0",
            f"results/cache/next_trial/funnel_{wildcards.design}",
        ],
    script:
        "../scripts/next_trial_design.py"


rule next_trial_batch:
    input:
        **NEXT_TRIAL_INPUTS,
    output:
        table="results/next_trial/batches/{design}_{batch}.csv",
    log:
        "results/logs/next_trial/{design}_{batch}.log",
    benchmark:
        "results/benchmarks/next_trial/{design}_{batch}.tsv"
    wildcard_constraints:
        design="|".join(NEXT_TRIAL_DESIGNS),
        batch=r"[1-9]\d*",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        data_dir=str(DATA_DIR),
        settings=stage_config("decision", "evidence_model", "sampling", "comparisons"),
        next_trial=NEXT_TRIAL_SIMULATION,
        # the job's last results, re-used where nothing that informs it changed (not an output: it outlives the run)
        cache_dir=lambda wildcards: f"results/cache/next_trial/{wildcards.design}_{wildcards.batch}",
    script:
        "../scripts/next_trial_batch.py"


rule next_trial:
    input:
        batches=expand(
            "results/next_trial/batches/{design}_{batch}.csv",
            design=NEXT_TRIAL_DESIGNS,
            batch=NEXT_TRIAL_BATCHES,
        ),
        funnels=expand("results/next_trial/funnel/{design}.csv", design=NEXT_TRIAL_DESIGNS),
    output:
        summary=report(
            "results/next_trial/summary.csv",
            caption="../report/next_trial.rst",
            category="What trial would settle it",
        ),
        simulations="results/next_trial/simulations.csv",
        funnel="results/next_trial/funnel.csv",
    log:
        "results/logs/next_trial/gather.log",
    benchmark:
        "results/benchmarks/next_trial/gather.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        data_dir=str(DATA_DIR),
        settings=stage_config("next_trial", "decision"),
    script:
        "../scripts/next_trial_gather.py"
