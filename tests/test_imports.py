"""Light commands load no sampling or plotting library: each starts a process, and those imports cost seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

HEAVY = ("pymc", "pytensor", "arviz", "matplotlib", "nutpie")
TRIAL = ROOT / "tests" / "fixtures" / "synthetic_trial.yaml"

RUN = """
import json, sys
from irsynth.cli import main
status = main(sys.argv[1:])
print(json.dumps({"status": status, "loaded": sorted(m for m in %r if m in sys.modules)}))
"""


def loaded_by(*argv: str) -> dict:
    """Exit status of `irsynth argv` in a fresh interpreter, and which heavy libraries it imported."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", RUN % (HEAVY,), *argv], capture_output=True, text=True, env=env, cwd=ROOT, check=True
    )
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    "argv",
    [("check", "{data}"), ("add", str(TRIAL), "--data", "{data}", "--dry-run"), ("effects", "{data}", "{out}")],
    ids=["check", "add", "effects"],
)
def test_light_commands_import_no_sampling_or_plotting_library(argv, data_dir, tmp_path):
    result = loaded_by(*(a.format(data=data_dir, out=tmp_path / "out") for a in argv))
    assert result == {"status": 0, "loaded": []}


def test_the_probe_sees_a_heavy_import():
    """The check above can fail: a heavy import is seen."""
    code = RUN.replace("from irsynth.cli import main", "import matplotlib\nfrom irsynth.cli import main")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", code % (HEAVY,), "check", str(ROOT / "data")], capture_output=True, text=True, env=env
    )
    assert "matplotlib" in json.loads(done.stdout.splitlines()[-1])["loaded"]


def test_the_workflow_definition_imports_no_model_or_simulation_library():
    """Every Snakemake start (a no-op run too) reads the Snakefile and rule files: their imports are paid each time."""
    files = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]
    imports = sorted(
        {line for p in files for line in p.read_text().splitlines() if line.startswith(("from ", "import "))}
    )
    heavy = (*HEAVY, "scipy", "pymare", "sympy")
    code = "\n".join(["import json, sys", *imports, "print(json.dumps(sorted(m for m in sys.modules if "
                      f"m.split('.')[0] in {heavy!r} or m == 'irsynth.simulation')))"])  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert "from irsynth import calibration" in imports and json.loads(done.stdout.splitlines()[-1]) == []
