rule fit_network:
    input:
        changes=rules.harmonise.output.changes,
    output:
        summary=report(
            "results/models/network/summary.csv",
            caption="../report/network.rst",
            category="Network meta-analysis",
        ),
        network="results/models/network/network.csv",
        node_split="results/models/network/node_split.csv",
        diagnostics="results/models/network/diagnostics.csv",
    log:
        "results/logs/fit_network.log",
    params:
        data_dir=str(DATA_DIR),
        settings=stage_config("models", "sampling"),
        # the stage's last results, re-used when nothing that informs its fits changed (not an output)
        cache_dir="results/cache/network",
    script:
        "../scripts/fit_network.py"
