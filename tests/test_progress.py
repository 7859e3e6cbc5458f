"""Progress lines of a stage reach both its log file and the console; everything else only the log."""

from __future__ import annotations

from irsynth import pipeline, progress


def test_progress_lines_go_to_the_log_and_the_console(tmp_path, capsys):
    log = tmp_path / "logs" / "stage.log"
    with pipeline.log_to(str(log)):
        print("detail")
        progress.say("fit 1/2, primary: sampled (1.0 s)")
    assert log.read_text() == "detail\nfit 1/2, primary: sampled (1.0 s)\n"
    assert capsys.readouterr().err == "fit 1/2, primary: sampled (1.0 s)\n"
    assert progress.console is None  # outside a stage: stdout only
    progress.say("later")
    assert capsys.readouterr() == ("later\n", "")


def test_known_harmless_warnings_are_filtered_and_others_kept(recwarn):
    import warnings

    with pipeline.harmless_warnings_filtered():
        warnings.warn("The point-wise LOO is the same with the sum LOO, please double check", UserWarning, stacklevel=1)
        warnings.warn("Estimated shape parameter of Pareto distribution is greater", UserWarning, stacklevel=1)
    assert [str(w.message)[:30] for w in recwarn] == ["Estimated shape parameter of P"]
