"""Loading and checking the pipeline config: the schema (workflow/schemas/config.schema.yaml, defaults filled in),
then the rules a schema cannot say: vocabularies of irsynth/vocab.py (with a "did you mean"), ordered and finite
bounds, and values that are legal but extreme (warnings). Every problem names the config file and the key."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import jsonschema
import yaml
from snakemake.utils import validate

from irsynth import vocab
from irsynth.csvfile import read_text
from irsynth.problems import DataError, Problem
from irsynth.yamlfile import StrictSafeLoader, error_line, error_text, load

SCHEMA = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"
# arm classes (harmonise.arm_class): drug components in this order, then one lifestyle part, joined by "+"
_DRUGS = ("MI", "DCI", "MET")
_LIFESTYLE_PARTS = ("diet", "exercise", "diet_exercise", "advice")
ARM_CLASSES = ("control",) + tuple(
    "+".join(drugs + lifestyle)
    for n in range(len(_DRUGS) + 1)
    for drugs in itertools.combinations(_DRUGS, n)
    for lifestyle in [()] + [(part,) for part in _LIFESTYLE_PARTS]
    if drugs or lifestyle
)


def _schema() -> dict:
    return yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def schema_problems(config, name: str) -> list[Problem]:
    """Every way `config` breaks the schema (not only the first), each naming its key."""
    validator = jsonschema.Draft202012Validator(_schema())
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        reason = error.message
        if error.validator == "enum":
            reason = f"{error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
            reason += vocab.suggest(error.instance, error.validator_value)
        elif error.validator == "additionalProperties":
            extra = [k for k in error.instance if k not in error.schema.get("properties", {})]
            allowed = list(error.schema.get("properties", {}))
            reason = "; ".join(f"unknown key {k!r}{vocab.suggest(k, allowed)}" for k in extra) or reason
        problems.append(Problem(name, None, _key(error.absolute_path), None, reason))
    return problems


def _numbers(value, path=()):
    """(path, number) of every number in a nested config."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _numbers(item, (*path, i))
    elif isinstance(value, float | int) and not isinstance(value, bool):
        yield path, value


def _unknown(values, allowed, what: str, listed: str | None = None) -> list[str]:
    """A reason for each value not in `allowed`, with the closest allowed one; `listed` describes the allowed."""
    listed = listed or ", ".join(allowed)
    return [f"unknown {what} {v!r}{vocab.suggest(v, allowed)}; allowed: {listed}" for v in values if v not in allowed]


CLASSES_LISTED = (
    "control, or components MI, DCI, MET (in this order) and/or one of diet, exercise, diet_exercise, advice, "
    "joined by '+' (MI+DCI, MET, MI+diet)"
)


def config_problems(config: dict, name: str) -> list[Problem]:
    """Rules beyond the schema (config already schema-valid, defaults filled in)."""
    problems = [
        Problem(name, None, _key(path), str(value), "not a finite number")
        for path, value in _numbers(config)
        if not math.isfinite(value)
    ]

    def add(key: str, reasons):
        problems.extend(Problem(name, None, key, None, reason) for reason in reasons)

    validation = config["validation"]
    for key, (low, high) in [*validation["bounds"].items(), ("years", validation["limits"]["years"])]:
        where = f"validation.bounds.{key}" if key != "years" else "validation.limits.years"
        if not low < high:
            add(where, [f"reversed or empty range [{low}, {high}]: give [lower, upper]"])
        elif key != "years" and low <= 0:
            add(where, [f"lower bound {low} must be > 0 (a level of {key} is positive)"])
    flags = vocab.ARM_FLAGS + tuple(f for f in vocab.POOLED_FLAGS if f not in vocab.ARM_FLAGS)
    add("evidence.exclude_flags", _unknown(config["evidence"]["exclude_flags"], flags, "flag"))
    settings = config["evidence_model"]
    add("evidence_model.sensitivity_exclude_flags", _unknown(settings["sensitivity_exclude_flags"], flags, "flag"))
    for comparison, spec in config["comparisons"].items():
        for side in ("treatment", "comparator"):
            add(f"comparisons.{comparison}.{side}", _unknown(spec[side], ARM_CLASSES, "arm class", CLASSES_LISTED))
    add(
        "models.network.reference",
        _unknown([config["models"]["network"]["reference"]], ARM_CLASSES, "arm class", CLASSES_LISTED),
    )
    for i, entry in enumerate(settings["pooled"]):
        key = f"evidence_model.pooled.{i}"
        comparison = entry.get("comparison")
        if comparison is not None and comparison not in config["comparisons"]:
            add(f"{key}.comparison", _unknown([comparison], list(config["comparisons"]), "comparison"))
        for side, class_key in (("treatment", "treatment_class"), ("comparator", "comparator_class")):
            if class_key in entry:
                allowed = (
                    config["comparisons"][comparison][side] if comparison in config["comparisons"] else ARM_CLASSES
                )
                add(f"{key}.{class_key}", _unknown([entry[class_key]], allowed, f"{side} class"))
    profiles = config["decision"]["profiles"]
    low, high = validation["bounds"]["homa_ir"]
    for i, profile in enumerate(profiles):
        if not low <= profile["homa_ir"] <= high:
            add(f"decision.profiles.{i}.homa_ir", [f"{profile['homa_ir']} outside validation.bounds.homa_ir"])
    names = [p["name"] for p in profiles]
    add(
        "decision.profiles",
        [f"profile name {n!r} appears twice" for n in sorted({n for n in names if names.count(n) > 1})],
    )
    return problems


def config_warnings(config: dict) -> list[str]:
    """Values that are legal but extreme: said before any job runs, the run goes on."""
    warnings = []
    rho = config["harmonise"]["rho"]
    if not 0 <= rho <= 0.9:
        warnings.append(
            f"harmonise.rho = {rho}: change-score SDs are sqrt(2 (1 - rho)) of the SD at rho near 1 and grow at "
            "negative rho; baseline-end correlations of HOMA-IR and insulin are usually 0.2-0.8"
        )
    mu = config["models"]["pairwise"]["mu_prior"]
    if config["models"]["pairwise"]["measure"] == "ROM" and abs(mu["mean"]) >= 1:
        warnings.append(
            f"models.pairwise.mu_prior.mean = {mu['mean']} is on the log ratio scale (a ratio of "
            f"{math.exp(mu['mean']):.3g}): a printed ratio of 1 (no effect) is a log ratio of 0"
        )
    factor = config["units"]["insulin_pmol_per_uiu"]
    if not 5.5 <= factor <= 7.5:
        warnings.append(f"units.insulin_pmol_per_uiu = {factor}: the factors in use are 6.0 and 6.945")
    gates = config["sampling"]["gates"]
    if gates["r_hat_max"] > 1.05 or gates["divergences_max"] > 10 or gates["ess_min"] < 100:
        warnings.append(f"sampling.gates {gates}: lax convergence gates let unreliable fits through")
    if abs(config["evidence_model"]["outcome_correlation"]) > 0.95:
        warnings.append("evidence_model.outcome_correlation above 0.95 in size: the two outcomes act as one")
    return warnings


def check_config(config, name: str = "config") -> dict:
    """Validate `config` in place against the schema (defaults filled in) and the rules beyond it; return it.
    Raises DataError naming `name` and each offending key."""
    if config is None:
        raise DataError([Problem(name, None, None, None, "config is empty")])
    if not isinstance(config, dict):
        raise DataError([Problem(name, None, None, None, "config must be a mapping of sections (key: value)")])
    problems = schema_problems(config, name)
    if problems:
        raise DataError(problems)
    validate(config, str(SCHEMA), set_default=True)
    problems = config_problems(config, name)
    if problems:
        raise DataError(problems)
    return config


def read_config(path: Path):
    """The content of a config YAML file, read strictly (a regular UTF-8 file; no aliases, no duplicate keys)."""
    name = str(path)
    text, problems = read_text(path)
    if problems:
        raise DataError(problems)
    try:
        return load(text, StrictSafeLoader)
    except yaml.YAMLError as err:
        raise DataError([Problem(name, error_line(err), None, None, f"not valid YAML: {error_text(err)}")]) from None


def load_config(path: Path) -> dict:
    """Read, validate and check a config YAML file; DataError naming each problem."""
    return check_config(read_config(path), str(path))
