rule report:
    input:
        rules.fit_evidence.output,
        rules.fit_network.output,
        rules.fit_pairwise.output,
        rules.effects.output,
        rules.harmonise.output,
        expand("results/validated/{table}.csv", table=["arms", "pooled", "studies"]),
    output:
        report(
            "results/report/report.html",
            caption="../report/report.rst",
            category="Report",
        ),
    log:
        "results/logs/report.log",
    params:
        settings=stage_config("decision", "evidence_model", "report", "comparisons", "sampling"),
        command="make run",
    script:
        "../scripts/report.py"
