"""The bundled data: every number stands in its own verbatim quote (the check an auditor would do by hand)."""

from __future__ import annotations

import csv
import re

import pytest
from conftest import ROOT

NUMBER = re.compile(r"(?:(?<![\d.])[-−–]\s?)?\d+(?:\.\d+)?")  # a dash right after a digit is a range
SIGN_IN_WORDS = re.compile(r"lower|higher|reduc|decreas|improv", re.IGNORECASE)


def _numbers(text: str) -> set[float]:
    return {float(m.replace("−", "-").replace("–", "-").replace(" ", "")) for m in NUMBER.findall(text)}


def _rows(name):
    with open(ROOT / "data" / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _in_text(value: str, text: str, sign_may_be_in_words: bool) -> bool:
    found = _numbers(text)
    number = float(value)
    return number in found or (sign_may_be_in_words and abs(number) in {abs(x) for x in found})


ARM_VALUES = ["mean", "sd", "se", "ci_low", "ci_high", "median", "q1", "q3", "min", "max"]


@pytest.mark.parametrize(
    "row", _rows("arms.csv"), ids=lambda r: f"{r['study_id']}-{r['arm']}-{r['outcome']}-{r['timepoint']}"
)
def test_arm_numbers_appear_in_their_quote(row):
    sign_words = "sign_inferred" in row["flags"] and bool(SIGN_IN_WORDS.search(row["quote"]))
    missing = [c for c in ARM_VALUES if row[c] and not _in_text(row[c], row["quote"], sign_words)]
    assert not missing, f"{missing} not found in quote {row['quote']!r}"
    for column in ("n", "n_allocated"):
        if row[column]:
            assert _in_text(row[column], row["quote"] + " " + row["n_quote"] + " " + row["source_locator"], False)


@pytest.mark.parametrize("row", _rows("pooled.csv"), ids=lambda r: f"{r['source_id']}-{r['outcome']}-{r['analysis']}")
def test_pooled_numbers_appear_in_their_quote(row):
    sign_words = bool(SIGN_IN_WORDS.search(row["quote"]))
    missing = [
        c for c in ("estimate", "ci_low", "ci_high") if row[c] and not _in_text(row[c], row["quote"], sign_words)
    ]
    assert not missing, f"{missing} not found in quote {row['quote']!r}"


def test_every_row_has_a_source_and_quote():
    for name in ("arms.csv", "pooled.csv"):
        for row in _rows(name):
            assert row["source_url"].startswith("http") and row["quote"].strip() and row["source_locator"].strip()
