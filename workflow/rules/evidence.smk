rule effects:
    input:
        changes=rules.harmonise.output.changes,
    output:
        report(
            "results/effects/contrasts.csv",
            caption="../report/contrasts.rst",
            category="Effect sizes",
        ),
    params:
        data_dir=str(DATA_DIR),
        settings=stage_config("harmonise", "comparisons"),
    log:
        "results/logs/effects.log",
    script:
        "../scripts/effects.py"


rule reference:
    input:
        effects=rules.effects.output[0],
    output:
        report(
            "results/reference/random_effects.csv",
            caption="../report/random_effects.rst",
            category="Frequentist reference",
        ),
    params:
        data_dir=str(DATA_DIR),
        settings=stage_config("reference"),
    log:
        "results/logs/reference.log",
    script:
        "../scripts/reference.py"
