"""The evidence model's data: designs and observations in blocks, importable without PyMC."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

COMPONENTS = ("inositol", "metformin", "exercise", "diet", "advice")
# design terms: the components, and inositol x lifestyle (diet or exercise) beyond additivity
TERMS = (*COMPONENTS, "interaction")
OUTCOMES = ("homa_ir", "fasting_insulin")
COVARIATES = ("log_duration", "log_baseline_homa_ir")
MEASURE_CODES = {"ROM": 0, "SMD": 1, "MD": 2, "WMD": 2}
# slot kinds of an arm-level block
PAD, CONTRAST, CONTROL = 0, 1, 2
# variance added to an observation that a run leaves out (leave-one-out, cumulative, overlap): its information ~ 0
LEFT_OUT_VAR = 1e12


@dataclass
class EvidenceData:
    """Design and observations of the evidence model.

    Pooled evidence: one block per (source, comparison), one slot per outcome (P x O). Arm-level evidence: one
    block per trial (S x K slots): its between-arm contrasts (log ratio of change) and its control arms' log
    changes (drift), each for each outcome, with their full sampling covariance (shared arms, both outcomes of
    one patient group) and the patterns of their random effects. Unused slots are padding. Scale anchors: each
    arm's log(SD/mean) and log baseline mean, and each arm's implied baseline-end correlation (Fisher z).
    `*_left_out` masks are 1 where the primary analysis leaves an observation out (possible overlap)."""

    outcomes: list[str]
    pooled_source: list[str]
    pooled_comparison: list[str]
    pooled_flags: list[str]
    pooled_basis: list[str]  # change / post / unknown, as the source says
    pooled_overlap: list[str]
    pooled_x: np.ndarray  # (P, T)
    pooled_present: np.ndarray  # (P, O) 1 where the source reports the outcome
    pooled_measure: np.ndarray  # (P, O) MEASURE_CODES
    pooled_est: np.ndarray  # (P, O)
    pooled_se: np.ndarray  # (P, O)
    pooled_change_weight: np.ndarray  # (P,) probability that an SMD is of change scores (1 change, 0 end values)
    pooled_left_out: np.ndarray  # (P,)
    arm_study: list[str]
    arm_slot_label: np.ndarray  # (S, K) object: "comparison (treatment vs comparator)" or "control arm <arm>"
    arm_comparison: np.ndarray  # (S, K) object: comparison name of a contrast slot, "" otherwise
    arm_overlap: np.ndarray  # (S, K) object: overlap status of a contrast slot
    arm_kind: np.ndarray  # (S, K) PAD / CONTRAST / CONTROL
    arm_outcome: np.ndarray  # (S, K)
    arm_x: np.ndarray  # (S, K, T)
    arm_covariates: np.ndarray  # (S, K, len(COVARIATES)), centred; 0 where unknown
    arm_y: np.ndarray  # (S, K)
    arm_cov_sampling: np.ndarray  # (S, K, K) sampling covariance from the arms' variances
    arm_cov_cross: np.ndarray  # (S, K, K) the same between outcomes of one arm, per unit outcome correlation
    arm_re_contrast: np.ndarray  # (S, K, K) contrast random effects: tau_k tau_l x this (1 same, 1/2 shared arm)
    arm_re_control: np.ndarray  # (S, K, K) 1 between slots of one control arm
    arm_advice: np.ndarray  # (S, K) probability that the trial gave every arm background advice (control slots)
    arm_left_out: np.ndarray  # (S, K)
    cv_y: np.ndarray
    cv_outcome: np.ndarray
    cv_n: np.ndarray  # the arm's n (large where not reported: no small-sample correction)
    cv_study: list[str]
    base_y: np.ndarray
    base_outcome: np.ndarray
    base_study: list[str]
    rho_y: np.ndarray
    rho_se: np.ndarray
    rho_outcome: np.ndarray
    rho_study: list[str]
    anchor_arms: dict = field(default_factory=dict)  # per anchor kind and outcome: the arms it rests on

    @property
    def pooled_labels(self) -> list[str]:
        return [f"{s}: {c}" for s, c in zip(self.pooled_source, self.pooled_comparison)]

    @property
    def n_contrasts(self) -> int:
        return int(np.sum(self.arm_kind == CONTRAST))

    @property
    def n_controls(self) -> int:
        return int(np.sum(self.arm_kind == CONTROL))

    def left_out(self, pooled=None, arms=None, studies=()) -> dict[str, np.ndarray]:
        """pm.Data overrides that leave out pooled blocks (mask over P), arm slots (mask over S x K), and every
        observation of `studies` (their arm blocks and scale anchors), on top of the primary analysis' masks."""
        pooled = self.pooled_left_out if pooled is None else np.maximum(self.pooled_left_out, pooled)
        arms = self.arm_left_out if arms is None else np.maximum(self.arm_left_out, arms)
        gone = set(studies)
        arms = np.maximum(
            arms, np.array([[s in gone] * arms.shape[1] for s in self.arm_study], float).reshape(arms.shape)
        )
        return {
            "pooled_left_out": pooled.astype(float),
            "arm_left_out": arms.astype(float),
            **{
                f"{kind}_left_out": np.array([s in gone for s in getattr(self, f"{kind}_study")], float)
                for kind in ("cv", "base", "rho")
            },
        }
