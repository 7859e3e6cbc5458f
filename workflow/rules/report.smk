rule report:
    input:
        headline=rules.fit_evidence.output.headline,
        components=rules.fit_evidence.output.components,
        decision=rules.fit_evidence.output.decision,
        sensitivity=rules.fit_evidence.output.sensitivity,
        forest=rules.fit_evidence.output.forest,
        cumulative=rules.fit_evidence.output.cumulative,
        posterior=rules.fit_evidence.output.posterior,
        regression=rules.fit_evidence.output.regression,
        loo=rules.fit_evidence.output.loo,
        checks=rules.fit_evidence.output.checks,
        evidence_set=rules.fit_evidence.output.evidence_set,
        anchors=rules.fit_evidence.output.anchors,
        evidence_diagnostics=rules.fit_evidence.output.diagnostics,
        pairwise_diagnostics=rules.fit_pairwise.output.diagnostics,
        network=rules.fit_network.output.network,
        node_split=rules.fit_network.output.node_split,
        network_diagnostics=rules.fit_network.output.diagnostics,
        small_study=rules.small_study.output.table,
        arms="results/validated/arms.csv",
        pooled="results/validated/pooled.csv",
        studies="results/validated/studies.csv",
        arm_values=rules.harmonise.output.values,
        contrasts=rules.effects.output.contrasts,
        next_trial_summary=rules.next_trial.output.summary,
        next_trial_funnel=rules.next_trial.output.funnel,
    output:
        html=report(
            "results/report/report.html",
            caption="../report/report.rst",
            category="Report",
        ),
    log:
        "results/logs/report.log",
    params:
        settings=stage_config("decision", "evidence_model", "report", "comparisons", "sampling", "next_trial"),
        # one entry per run, read back by the next report (not an output: it outlives the run)
        history="results/history",
        # the figures of the last report, re-used where drawn from the same inputs (not an output: it outlives the run)
        figures="results/cache/report_figures",
        command="make run",
    script:
        "../scripts/report.py"
