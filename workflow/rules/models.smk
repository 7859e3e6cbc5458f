rule fit_pairwise:
    input:
        effects=rules.effects.output[0],
    output:
        summary=report(
            "results/models/pairwise/summary.csv",
            caption="../report/pairwise.rst",
            category="Pairwise random effects",
        ),
        diagnostics="results/models/pairwise/diagnostics.csv",
        posteriors=directory("results/models/pairwise/posteriors"),
    params:
        data_dir=str(DATA_DIR),
        settings=stage_config("models", "sampling"),
    log:
        "results/logs/fit_pairwise.log",
    script:
        "../scripts/fit_pairwise.py"
