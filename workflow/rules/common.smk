import sys
from pathlib import Path

from snakemake.utils import validate

from irsynth.problems import DataError
from irsynth.validate import load_evidence

validate(config, "../schemas/config.schema.yaml")

DATA_DIR = Path(config["data_dir"])

# Bad input stops the workflow before any job runs, so the results of the last good run stay intact.
try:
    load_evidence(DATA_DIR, config)
except DataError as err:
    sys.stderr.write(f"\nirsynth: {err}\n\nNothing was run; results/ is unchanged.\n")
    sys.exit(1)


def stage_config(*sections):
    """The config sections a rule depends on, passed as params so that changing them re-runs the rule."""
    return {section: config[section] for section in sections}
