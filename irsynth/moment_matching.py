"""Importance sampling from one posterior's draws to another, with moment matching where plain PSIS is unreliable.

Plain PSIS weights draws u_s of a proposal q by p(u_s) / q(u_s) and smooths the largest weights (Vehtari, Simpson,
Gelman, Yao & Gabry 2024, JMLR 25(72)); it fails (Pareto k high) when the target p is shifted from, or wider than,
q. Importance-weighted moment matching (Paananen, Piironen, Buerkner & Vehtari 2021, Stat Comput 31:16; the
algorithm of loo::loo_moment_match and arviz_stats.loo_moment_match, here for any target, not only a leave-one-out
posterior) moves the draws by affine maps x = A u + b that match their mean, then marginal variances, then covariance
to the importance-weighted ones, accepting a map only where it improves the weights. The moved draws come from q_T(x) =
q(A^-1 (x - b)) / |det A|, so their log weights are log p(x) - log q(u) + const. The final estimate splits the
draws: the first half moved by the whole map T, the second half left as drawn, both weighted against the mixture
(q + q_T) / 2 (multiple importance sampling), which removes the bias of adapting T to the same draws. That needs q
at any point, not only at its draws: `log_proposal` is the proposal's unnormalised log density, with the same
constant as `log_proposal_at_draws`.

Everything is on an unconstrained space (irsynth.unconstrained), where affine maps keep every point valid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from arviz_stats.base import array_stats
from scipy.special import logsumexp

MAX_STEPS = 30  # affine maps accepted at most (loo's max_iters)


@dataclass
class Weighted:
    """A weighted sample of the target: points (S x d), PSIS-smoothed normalised log weights, their Pareto k, how
    many affine maps moved the points (0: the proposal's draws, plain PSIS), and the Pareto k of the plain weights."""

    points: np.ndarray
    log_weights: np.ndarray
    pareto_k: float
    steps: int
    plain_k: float = np.nan

    @property
    def efficiency(self) -> float:
        return efficiency(self.log_weights)


def efficiency(log_weights: np.ndarray) -> float:
    """1 / sum(w^2) / S of normalised log weights: the share of the draws the weights keep."""
    return float(1.0 / np.sum(np.exp(2 * log_weights)) / len(log_weights))


def smoothed(log_ratio: np.ndarray, r_eff: float) -> tuple[np.ndarray, float]:
    """PSIS-smoothed, normalised log weights of flat log importance ratios, and the Pareto k of their tail. Raises
    ValueError where the tail cannot be fitted (ties)."""
    log_ratio = np.where(np.isnan(log_ratio), -np.inf, log_ratio)
    top = np.max(log_ratio)
    # arviz-stats smooths the weights of PSIS-LOO, 1 / likelihood: it takes the negated log ratio
    log_weights, k = array_stats.psislw(top - log_ratio, r_eff=r_eff)
    return log_weights - logsumexp(log_weights), float(k)


def relative_efficiency(log_ratio: np.ndarray) -> float:
    """r_eff of importance weights of MCMC draws (chain x draw): the relative ESS of the raw weights, as loo uses."""
    raw = np.exp(log_ratio - log_ratio.max())
    return min(1.0, float(array_stats.ess(raw, method="mean", relative=True)))


def _weighted_moments(points: np.ndarray, log_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    weights = np.exp(log_weights)
    mean = weights @ points
    return weights, mean, points.mean(axis=0)


def _shift(points, log_weights):
    """Move the points' mean to the weighted mean: (A, b) of x = A u + b."""
    _, weighted, mean = _weighted_moments(points, log_weights)
    return np.eye(points.shape[1]), weighted - mean


def _scale(points, log_weights):
    """Shift, and scale each coordinate's spread to its weighted SD."""
    weights, weighted, mean = _weighted_moments(points, log_weights)
    n = len(points)
    weighted_var = (weights @ points**2 - weighted**2) * n / (n - 1)
    var = points.var(axis=0, ddof=1)
    scaling = np.where((var > 1e-9) & (weighted_var > 1e-9), np.sqrt(weighted_var / np.maximum(var, 1e-300)), 1.0)
    return np.diag(scaling), weighted - scaling * mean


def _covariance(points, log_weights):
    """Shift, and map the covariance to the weighted covariance (through their Cholesky factors)."""
    weights, weighted, mean = _weighted_moments(points, log_weights)
    mapping = np.linalg.cholesky(np.cov(points, rowvar=False, aweights=weights, ddof=1)) @ np.linalg.inv(
        np.linalg.cholesky(np.cov(points, rowvar=False, ddof=1))
    )
    return mapping, weighted - mapping @ mean


def moment_match(
    draws: np.ndarray,
    chains: int,
    log_target: Callable[[np.ndarray], np.ndarray],
    log_proposal: Callable[[np.ndarray], np.ndarray],
    k_max: float,
    min_efficiency: float = 0.0,
    max_steps: int = MAX_STEPS,
) -> Weighted:
    """A weighted sample of the target (unnormalised log density `log_target`, a function of S x d points) from
    MCMC `draws` (S x d, `chains` chains one after the other) of the proposal: plain PSIS where its Pareto k is at
    most `k_max` and its efficiency at least `min_efficiency`, else moment matching and the split estimate (module
    docstring). A map is accepted where it lowers k, or, once k is at most `k_max`, where it raises the efficiency
    and keeps k there (loo matches on k alone; the living review also needs the weights' ESS), until the weights
    meet both or no map improves them. The returned split estimate's own k and efficiency are the ones to check
    (loo reports the last map's k). The covariance map is tried where S >= 10 d, as loo does. Each density is
    evaluated once per point. Raises ValueError where no Pareto tail can be fitted to the plain weights."""
    target_at_draws, proposal_at_draws = log_target(draws), log_proposal(draws)
    r_eff = relative_efficiency((target_at_draws - proposal_at_draws).reshape(chains, -1))

    log_weights, plain_k = smoothed(target_at_draws - proposal_at_draws, r_eff)

    def weighted(points: np.ndarray, target: np.ndarray, steps: int) -> tuple[Weighted, np.ndarray]:
        return Weighted(points, *smoothed(target - proposal_at_draws, r_eff), steps, plain_k), target

    def good(w: Weighted) -> bool:
        return w.pareto_k <= k_max and w.efficiency >= min_efficiency

    def better(new: Weighted, old: Weighted) -> bool:
        if old.pareto_k > k_max:
            return new.pareto_k < old.pareto_k
        return new.pareto_k <= k_max and new.efficiency > old.efficiency

    current, target = Weighted(draws, log_weights, plain_k, 0, plain_k), target_at_draws
    n, d = draws.shape
    maps = [_shift, _scale] + [_covariance] * (n >= 10 * d)
    matrix, offset = np.eye(d), np.zeros(d)
    while not good(current) and current.steps < max_steps:
        for fitted_map in maps:
            try:
                a, b = fitted_map(current.points, current.log_weights)
                moved = current.points @ a.T + b
                candidate, moved_target = weighted(moved, log_target(moved), current.steps + 1)
            except (np.linalg.LinAlgError, ValueError):
                continue
            if better(candidate, current):
                current, target, matrix, offset = candidate, moved_target, a @ matrix, a @ offset + b
                break
        else:
            break
    if not current.steps:
        return current
    # the split estimate: the first half of the draws moved by the whole map T (x = matrix u + offset), the second
    # half as drawn, each weighted against the mixture of q and q_T, q_T(x) = q(T^-1 x) / |det matrix|; of the
    # densities it needs, only q at the moved half and at T^-1 of the second half are new
    half = n // 2
    mixed = np.concatenate([current.points[:half], draws[half:]])
    unmoved = np.linalg.solve(matrix, (draws[half:] - offset).T).T
    new = log_proposal(np.concatenate([current.points[:half], unmoved]))
    _, log_det = np.linalg.slogdet(matrix)
    at_mixed = np.concatenate([new[:half], proposal_at_draws[half:]])
    at_inverse = np.concatenate([proposal_at_draws[:half], new[half:]]) - log_det
    log_ratio = np.concatenate([target[:half], target_at_draws[half:]]) - np.logaddexp(at_mixed, at_inverse)
    return Weighted(mixed, *smoothed(log_ratio, r_eff), current.steps, plain_k)


def resample(log_weights: np.ndarray, seed: int) -> np.ndarray:
    """Indices of an equally weighted sample of the same size: systematic resampling in proportion to the weights,
    then shuffled."""
    weights = np.exp(log_weights - logsumexp(log_weights))
    rng = np.random.default_rng(seed)
    positions = (rng.random() + np.arange(len(weights))) / len(weights)
    indices = np.minimum(np.searchsorted(np.cumsum(weights), positions), len(weights) - 1)
    return rng.permutation(indices)
