rule effects:
    input:
        changes=rules.harmonise.output.changes,
    output:
        contrasts=report(
            "results/effects/contrasts.csv",
            caption="../report/contrasts.rst",
            category="Effect sizes",
        ),
    log:
        "results/logs/effects.log",
    params:
        data_dir=str(DATA_DIR),
        settings=stage_config("harmonise", "comparisons"),
    script:
        "../scripts/effects.py"


rule reference:
    input:
        effects=rules.effects.output.contrasts,
    output:
        random_effects=report(
            "results/reference/random_effects.csv",
            caption="../report/random_effects.rst",
            category="Frequentist reference",
        ),
    log:
        "results/logs/reference.log",
    params:
        data_dir=str(DATA_DIR),
        settings=stage_config("reference"),
    script:
        "../scripts/reference.py"
