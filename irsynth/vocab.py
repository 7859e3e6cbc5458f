"""Controlled vocabularies of the data tables (documented in data/README.md)."""

import difflib

OUTCOMES = ("homa_ir", "fasting_insulin", "fasting_glucose")
TIMEPOINTS = ("baseline", "end", "change")
LIFESTYLE = ("none", "advice", "diet", "exercise", "diet_exercise")
# "active": an active comparator that receives a drug, a lifestyle programme, or another treatment named in other_tx
# (a matched control diet: lifestyle diet, control_kind active, other_tx describing it)
CONTROL_KINDS = ("placebo", "folic_acid", "none", "active")
COMPONENTS = ("MI", "DCI", "MET", "diet", "exercise", "advice", "placebo", "folic_acid", "usual_care")

# Units as printed, per outcome, mapped to the canonical unit and the factor that converts to it.
# The insulin factor pmol/L -> uIU/mL is a config knob (insulin_pmol_per_uiu); None marks "use it".
CANONICAL_UNIT = {"homa_ir": "index", "fasting_insulin": "uIU/mL", "fasting_glucose": "mmol/L"}
UNITS = {
    "homa_ir": {"": 1.0, "index": 1.0},
    "fasting_insulin": {
        "uIU/mL": 1.0,
        "µIU/mL": 1.0,
        "μIU/mL": 1.0,
        "mU/L": 1.0,
        "mIU/L": 1.0,
        "µU/mL": 1.0,
        "pmol/L": None,
        "": 1.0,
    },
    "fasting_glucose": {"mmol/L": 1.0, "mg/dL": None},
}
GLUCOSE_MG_DL_PER_MMOL_L = 18.016

# Quality flags a row may carry (semicolon-separated); data/README.md explains each.
ARM_FLAGS = (
    "non_randomised",
    "dispersion_unlabelled",
    "unit_not_printed",
    "implausible_value",
    "duplicate_report",
    "possible_overlap",
    "subgroup_only",
    "homa2_not_homa1",
    "dose_unclear",
    "sign_inferred",
    "timepoint_inferred",
    "not_pcos",
)
POOLED_FLAGS = (
    "sign_convention_not_stated",
    "coi_manufacturer",
    "k_for_outcome_not_stated",
    "mixed_comparators",
    "not_pcos",
    "unit_garbled",
    "withdrawn_review",
    "secondary_source",
    "conference_abstract",
    "very_low_certainty",
    "ci_incomplete",
)
MEASURES = ("SMD", "MD", "WMD", "ROM")
ANALYSES = ("change", "post", "mixed", "unknown")

RANDOMISED = ("yes", "no", "unclear")

# studies.csv background_advice: every arm received diet/exercise/lifestyle advice as background (yes), the source
# says no advice or lifestyle left unchanged (no), not stated (unclear). yes and no need background_advice_quote.
BACKGROUND_ADVICE = ("yes", "no", "unclear")
# pooled.csv included_studies_complete: the quoted list names every trial the estimate may include (yes), only some
# of them (no), or it is not known (blank).
INCLUDED_COMPLETE = ("", "yes", "no")
# pooled.csv search_date: the review's last search as printed, YYYY-MM or YYYY-MM-DD (blank when not stated)
SEARCH_DATE_PATTERN = r"^(\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$"

# Human labels of identifiers (outcomes, components, arm classes, parts of comparison names) for tables and figures:
# the one mapping the report and the figures use, through `label`.
LABELS = {
    "homa_ir": "HOMA-IR",
    "fasting_insulin": "fasting insulin",
    "fasting_glucose": "fasting glucose",
    "diet_exercise": "diet + exercise",
    "inositol_lifestyle": "inositol + lifestyle",
    "folic_acid": "folic acid",
    "usual_care": "usual care",
    "log_duration": "log duration (weeks)",
    "log_baseline_homa_ir": "log baseline HOMA-IR",
}


def label(identifier: str) -> str:
    """The human label of an identifier: LABELS, else a comparison `a_vs_b` as 'label(a) vs label(b)', else the
    identifier with underscores as spaces ('inositol_vs_metformin' -> 'inositol vs metformin')."""
    identifier = str(identifier)
    if identifier in LABELS:
        return LABELS[identifier]
    if "_vs_" in identifier:
        return " vs ".join(label(part) for part in identifier.split("_vs_"))
    return identifier.replace("_", " ")


def suggest(value: str, allowed) -> str:
    """' (did you mean 'X'?)' for the allowed value closest to `value` (difflib; case-insensitive), else ''."""
    allowed = [str(a) for a in allowed]
    folded = {a.casefold(): a for a in allowed}
    close = difflib.get_close_matches(str(value).casefold(), list(folded), n=1, cutoff=0.6)
    return f" (did you mean {folded[close[0]]!r}?)" if close else ""
