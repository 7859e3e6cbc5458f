"""Unit conversion to each outcome's canonical unit (insulin uIU/mL, glucose mmol/L, HOMA-IR dimensionless)."""

from __future__ import annotations

from irsynth import vocab


def factor_to_canonical(outcome: str, unit: str, config: dict) -> float:
    """Multiplier taking a value in `unit` to the canonical unit of `outcome`.

    Insulin: 1 uIU/mL = `config['units']['insulin_pmol_per_uiu']` pmol/L (6.0 by default; 6.945 is also in use).
    Glucose: 1 mmol/L = 18.016 mg/dL (molar mass of glucose 180.16 g/mol).
    """
    table = vocab.UNITS[outcome]
    if unit not in table:
        raise ValueError(f"unknown unit {unit!r} for {outcome}")
    factor = table[unit]
    if factor is not None:
        return factor
    if outcome == "fasting_insulin":
        return 1.0 / config["units"]["insulin_pmol_per_uiu"]
    return 1.0 / vocab.GLUCOSE_MG_DL_PER_MMOL_L


def to_canonical(value: float, outcome: str, unit: str, config: dict) -> float:
    return value * factor_to_canonical(outcome, unit, config)
