rule validate:
    input:
        # the checks of one table read the other two beside it (data_dir in the script: this file's folder)
        table=DATA_DIR / "{table}.csv",
    output:
        table="results/validated/{table}.csv",
    log:
        "results/logs/validate_{table}.log",
    wildcard_constraints:
        table="arms|pooled|studies",
    params:
        settings=stage_config("validation", "units", "comparisons"),
    script:
        "../scripts/validate.py"


rule harmonise:
    input:
        arms="results/validated/arms.csv",
        studies="results/validated/studies.csv",
    output:
        values="results/harmonised/arm_values.csv",
        changes="results/harmonised/arm_changes.csv",
    log:
        "results/logs/harmonise.log",
    params:
        data_dir=str(DATA_DIR),
        settings=stage_config("units", "evidence", "harmonise"),
    script:
        "../scripts/harmonise.py"
