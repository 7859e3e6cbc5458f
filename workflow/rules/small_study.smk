rule small_study:
    input:
        effects=rules.effects.output.contrasts,
    output:
        table="results/small_study/small_study.csv",
    log:
        "results/logs/small_study.log",
    params:
        data_dir=str(DATA_DIR),
        settings=stage_config("report"),
    script:
        "../scripts/small_study.py"
