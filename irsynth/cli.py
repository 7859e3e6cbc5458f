"""Command line: check a data folder, or compute effect sizes and the REML reference from it.

    irsynth check DATA_DIR [--config FILE]
    irsynth effects DATA_DIR OUT_DIR [--config FILE]

DATA_DIR holds arms.csv, pooled.csv and studies.csv in the schema of data/README.md. Problems are printed one
per line (file, line, column, value, reason) and the exit status is 1; nothing is written then.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from irsynth import pipeline
from irsynth.config import load_config
from irsynth.problems import DataError
from irsynth.validate import load_evidence

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "config.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="irsynth", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate a data folder and report every problem")
    check.add_argument("data_dir", type=Path)
    effects = sub.add_parser("effects", help="validate, harmonise, compute effect sizes and the REML reference")
    effects.add_argument("data_dir", type=Path)
    effects.add_argument("out_dir", type=Path)
    for command in (check, effects):
        command.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="config YAML (default: %(default)s)")
    args = parser.parse_args(argv)

    config = load_config(args.config)
    try:
        if args.command == "check":
            evidence = load_evidence(args.data_dir, config)
            print(f"{args.data_dir}: OK ({len(evidence.arms)} arm rows, {len(evidence.pooled)} pooled rows, "
                  f"{len(evidence.studies)} studies)")
            return 0
        out = args.out_dir
        pipeline.validate(args.data_dir, config, out / "validated")
        pipeline.harmonise(out / "validated", args.data_dir, config, out / "harmonised")
        pipeline.effects(out / "harmonised" / "arm_changes.csv", args.data_dir, config, out / "effects" / "contrasts.csv")
        pipeline.reference(out / "effects" / "contrasts.csv", args.data_dir, config, out / "reference" / "random_effects.csv")
        print(f"wrote {out}/validated, harmonised, effects/contrasts.csv, reference/random_effects.csv")
        return 0
    except DataError as err:
        print(err, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
