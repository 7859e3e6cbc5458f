rule fit_pairwise:
    input:
        effects=rules.effects.output.contrasts,
    output:
        summary=report(
            "results/models/pairwise/summary.csv",
            caption="../report/pairwise.rst",
            category="Pairwise random effects",
        ),
        diagnostics="results/models/pairwise/diagnostics.csv",
        posteriors=directory("results/models/pairwise/posteriors"),
    log:
        "results/logs/fit_pairwise.log",
    params:
        data_dir=str(DATA_DIR),
        settings=stage_config("models", "sampling"),
        # the stage's last results, re-used when nothing that informs its fits changed (not an output)
        cache_dir="results/cache/pairwise",
    script:
        "../scripts/fit_pairwise.py"
