"""Measurement maps: the expected value of a published effect measure as a function of the latent effect.

The latent effect Delta of a comparison is the log ratio of the two arms' end means (randomisation makes their
baseline means equal, B). The control arm's end mean is B exp(delta), delta its drift (log end/baseline); the
treatment arm's is B exp(delta + Delta). The between-patient SD of a value is proportional to its mean (constant
coefficient of variation cv, as for log-normal values), and rho is the correlation of a patient's baseline and end
values. Each published scale follows from its own definition:

    ROM (log ratio of means)     g = Delta
    MD, of end values or of changes (identical in expectation under randomisation)
                                 g = B exp(delta) (exp(Delta) - 1)
    SMD of end values            g = (exp(Delta) - 1) / (cv sqrt((1 + exp(2 Delta)) / 2))
        the mean difference over the pooled end SD of both arms, SD_arm = cv x end mean (B and drift cancel)
    SMD of change scores         g = exp(delta) (exp(Delta) - 1) / (cv sqrt((v(delta) + v(delta + Delta)) / 2)),
                                 v(m) = 1 + exp(2 m) - 2 rho exp(m)
        the mean difference over the pooled SD of the change, Var(end - baseline) = SD_b^2 + SD_e^2 - 2 rho SD_b SD_e
        (Cochrane Handbook 6.5.2.8); with no drift and no effect this is cv B sqrt(2 (1 - rho)).

Published SMDs are Hedges' g; its small-sample factor (about 0.99 at 30 per arm) is not modelled. The functions
take the array module (numpy or pytensor.tensor) so that the model and its tests use one definition.
"""

from __future__ import annotations

import numpy as np


def mean_difference(delta, drift, base, xp=np):
    return base * xp.exp(drift) * (xp.exp(delta) - 1)


def smd_end(delta, cv, xp=np):
    return (xp.exp(delta) - 1) / (cv * xp.sqrt((1 + xp.exp(2 * delta)) / 2))


def smd_change(delta, drift, cv, rho, xp=np):
    def v(m):
        return 1 + xp.exp(2 * m) - 2 * rho * xp.exp(m)

    return xp.exp(drift) * (xp.exp(delta) - 1) / (cv * xp.sqrt((v(drift) + v(drift + delta)) / 2))


def patient_sd_log(cv, rho, xp=np):
    """SD of a patient's log change (log end - log baseline): log-scale SD sqrt(log(1 + cv^2)) at each time,
    correlation rho between them (taken as equal on the log and the raw scale)."""
    return xp.sqrt(xp.log1p(cv**2) * 2 * (1 - rho))


def expected(delta, measure: int, change_weight, drift, cv, base, rho, xp=np):
    """Expected published value of measure code 0 (ROM), 1 (SMD; basis change with probability `change_weight`,
    end values otherwise: the mixture's mean) or 2 (MD)."""
    if measure == 0:
        return delta
    if measure == 2:
        return mean_difference(delta, drift, base, xp)
    return change_weight * smd_change(delta, drift, cv, rho, xp) + (1 - change_weight) * smd_end(delta, cv, xp)
