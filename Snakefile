# Living Bayesian evidence synthesis: inositol, lifestyle and insulin resistance in PCOS.
# The Snakefile loads and validates config and data, then includes one rule file per stage.
import os
import sys
import time
from pathlib import Path

from snakemake.utils import min_version

from irsynth.last_good import failure_message, keep_last_good

min_version("9.0")

# numba's optimisation level for every job (a setting of its own wins): level 1 compiles the models about a fifth
# faster than the default 3, at the same sampling speed (bench/speed_after.md)
os.environ.setdefault("NUMBA_OPT", "1")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


# the report and model tables of the last good run are kept in results/last_good (irsynth.last_good): Snakemake
# deletes the outputs of a job that fails
RUN_STARTED = time.time()


onsuccess:
    keep_last_good(Path("results"))


onerror:
    sys.stderr.write(failure_message(Path("results"), RUN_STARTED))


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/effects.smk"
include: "workflow/rules/small_study.smk"
include: "workflow/rules/pairwise.smk"
include: "workflow/rules/network.smk"
include: "workflow/rules/evidence_model.smk"
include: "workflow/rules/next_trial.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/calibration.smk"


rule all:
    default_target: True
    input:
        expand("results/validated/{table}.csv", table=["arms", "pooled", "studies"]),
        rules.harmonise.output,
        rules.effects.output,
        rules.reference.output,
        rules.small_study.output,
        rules.fit_pairwise.output,
        rules.fit_evidence.output,
        rules.fit_network.output,
        rules.next_trial.output,
        rules.report.output,
