import os
import sys
from pathlib import Path

from irsynth.config import check_config, config_warnings, read_config
from irsynth.problems import DataError
from irsynth.validate import check_inputs

CONFIG_NAME = str(workflow.configfiles[-1]) if workflow.configfiles else "config"
# the checksums of the inputs that last passed the up-front check (it is skipped while they match)
CHECKED_STAMP = Path("results/validated.sha256")


def _stop(message):
    sys.stderr.write(f"\nirsynth: {message}\n\nNothing was run; results/ is unchanged.\n")
    sys.exit(1)


# Bad config or data stops the workflow before any job runs, so the results of the last good run stay intact:
# the config (strict YAML, schema, vocabularies, bounds), the data tables, and every reference of the config into
# them (the evidence model's pooled rows, comparisons, flags, outcomes).
try:
    for configfile in workflow.configfiles:
        read_config(configfile)
    check_config(config, CONFIG_NAME)
    DATA_DIR = Path(config["data_dir"])
    check_inputs(DATA_DIR, config, CONFIG_NAME, CHECKED_STAMP)
except DataError as err:
    _stop(err)
except (OSError, UnicodeError, ValueError, KeyError) as err:
    if os.environ.get("IRSYNTH_DEBUG", "") not in ("", "0"):
        raise
    _stop(f"{type(err).__name__}: {err} (IRSYNTH_DEBUG=1 shows the traceback)")
for warning in config_warnings(config):
    sys.stderr.write(f"irsynth: warning: {CONFIG_NAME}: {warning}\n")


def stage_config(*sections):
    """The config sections a rule depends on, passed as params so that changing them re-runs the rule."""
    return {section: config[section] for section in sections}
