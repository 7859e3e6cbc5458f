rule fit_evidence:
    input:
        pooled="results/validated/pooled.csv",
        studies="results/validated/studies.csv",
        changes=rules.harmonise.output.changes,
        effects=rules.effects.output[0],
    output:
        posterior="results/models/evidence/posterior.nc",
        diagnostics="results/models/evidence/diagnostics.csv",
        components=report(
            "results/models/evidence/components.csv",
            caption="../report/components.rst",
            category="Inositol/lifestyle evidence model",
        ),
        decision=report(
            "results/models/evidence/decision.csv",
            caption="../report/decision.rst",
            category="Inositol/lifestyle evidence model",
        ),
        regression="results/models/evidence/regression.csv",
        evidence_set="results/models/evidence/evidence_set.csv",
        checks="results/models/evidence/checks.csv",
        loo="results/models/evidence/loo.csv",
        forest=report(
            "results/models/evidence/forest.csv",
            caption="../report/forest.rst",
            category="Inositol/lifestyle evidence model",
        ),
        sensitivity=report(
            "results/models/evidence/sensitivity.csv",
            caption="../report/sensitivity.rst",
            category="Inositol/lifestyle evidence model",
        ),
        cumulative=report(
            "results/models/evidence/cumulative.csv",
            caption="../report/cumulative.rst",
            category="Inositol/lifestyle evidence model",
        ),
        anchors="results/models/evidence/anchors.csv",
        headline="results/models/evidence/headline.json",
    log:
        "results/logs/fit_evidence.log",
    # the longest job: start it as soon as its inputs exist
    priority: 10
    params:
        data_dir=str(DATA_DIR),
        settings=stage_config("evidence_model", "decision", "sampling", "comparisons"),
        # each run's last MCMC fit, updated when the evidence changes (not an output: it outlives the run)
        cache_dir="results/cache/evidence",
    script:
        "../scripts/fit_evidence.py"
