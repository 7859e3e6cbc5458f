"""Loading the pipeline config, validated against workflow/schemas/config.schema.yaml (defaults filled in)."""

from __future__ import annotations

from pathlib import Path

import yaml
from snakemake.utils import validate

SCHEMA = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"


def check_config(config: dict) -> dict:
    """Validate `config` in place against the schema, filling defaults; return it."""
    validate(config, str(SCHEMA), set_default=True)
    return config


def load_config(path: Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return check_config(yaml.safe_load(handle))
