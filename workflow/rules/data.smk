rule validate:
    input:
        DATA_DIR / "{table}.csv",
    output:
        "results/validated/{table}.csv",
    wildcard_constraints:
        table="arms|pooled|studies",
    params:
        data_dir=str(DATA_DIR),
        settings=stage_config("validation", "units", "comparisons"),
    log:
        "results/logs/validate_{table}.log",
    script:
        "../scripts/validate.py"


rule harmonise:
    input:
        arms="results/validated/arms.csv",
        studies="results/validated/studies.csv",
    output:
        values="results/harmonised/arm_values.csv",
        changes="results/harmonised/arm_changes.csv",
    params:
        data_dir=str(DATA_DIR),
        settings=stage_config("units", "evidence", "harmonise"),
    log:
        "results/logs/harmonise.log",
    script:
        "../scripts/harmonise.py"
