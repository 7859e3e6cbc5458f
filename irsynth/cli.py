"""Command line: check a data folder, add evidence to it, or compute effect sizes and the REML reference from it.

    irsynth check DATA_DIR [--config FILE]
    irsynth add TEMPLATE [--data DATA_DIR] [--dry-run] [--config FILE]
    irsynth effects DATA_DIR OUT_DIR [--config FILE]

DATA_DIR holds arms.csv, pooled.csv and studies.csv in the schema of data/README.md. Problems are printed one
per line (file, line, column, value, reason) and the exit status is 1; nothing is written then. Any other failure is
one line too (exit status 2); `--debug` or IRSYNTH_DEBUG=1 shows the traceback instead.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

from irsynth import pipeline
from irsynth.addition import add_evidence
from irsynth.config import config_warnings, load_config
from irsynth.evidence_set import OverlapError
from irsynth.problems import DataError
from irsynth.validate import check_evidence

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "config.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="irsynth", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate a data folder and report every problem")
    check.add_argument("data_dir", type=Path)
    add = sub.add_parser("add", help="add a trial or pooled estimate from a filled-in template (YAML or CSV)")
    add.add_argument("template", type=Path)
    add.add_argument("--data", type=Path, default=Path("data"), help="data folder to add to (default: %(default)s)")
    add.add_argument("--dry-run", action="store_true", help="check the template against the data; change nothing")
    effects = sub.add_parser("effects", help="validate, harmonise, compute effect sizes and the REML reference")
    effects.add_argument("data_dir", type=Path)
    effects.add_argument("out_dir", type=Path)
    for command in (check, add, effects):
        command.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="config YAML (default: %(default)s)")
        command.add_argument("--debug", action="store_true", help="show a traceback on failure (or IRSYNTH_DEBUG=1)")
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get("IRSYNTH_DEBUG", "") not in ("", "0")
    try:
        return _run(args)
    except (DataError, OverlapError) as err:
        if debug:
            raise
        print(f"{err}\n\nNothing was changed." if args.command == "add" else err, file=sys.stderr)
        return 1
    except (OSError, UnicodeError, csv.Error, ValueError, KeyError) as err:
        if debug:
            raise
        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        print(
            f"irsynth {args.command}: {type(err).__name__}{where}: {err}\n"
            "Nothing was changed. Run again with --debug (or IRSYNTH_DEBUG=1) for the traceback.",
            file=sys.stderr,
        )
        return 2


def _run(args) -> int:
    config = load_config(args.config)
    for warning in config_warnings(config):
        print(f"warning: {args.config}: {warning}", file=sys.stderr)
    if args.command == "check":
        evidence = check_evidence(args.data_dir, config, str(args.config))
        print(
            f"{args.data_dir}: OK ({len(evidence.arms)} arm rows, {len(evidence.pooled)} pooled rows, "
            f"{len(evidence.studies)} studies)"
        )
        return 0
    if args.command == "add":
        for line in add_evidence(args.template, args.data, config, dry_run=args.dry_run):
            print(("would add: " if args.dry_run else "") + line)
        if not args.dry_run:
            print("Re-fit with `make run`: only the stages that depend on the changed tables run again.")
        return 0
    out = args.out_dir
    validated = {name: out / "validated" / f"{name}.csv" for name in ("arms", "pooled", "studies")}
    values, changes = out / "harmonised" / "arm_values.csv", out / "harmonised" / "arm_changes.csv"
    contrasts = out / "effects" / "contrasts.csv"
    pipeline.validate(args.data_dir, config, validated)
    pipeline.harmonise(validated["arms"], validated["studies"], args.data_dir, config, values, changes)
    pipeline.effects(changes, args.data_dir, config, contrasts)
    pipeline.reference(contrasts, args.data_dir, config, out / "reference" / "random_effects.csv")
    print(f"wrote {out}/validated, harmonised, effects/contrasts.csv, reference/random_effects.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
