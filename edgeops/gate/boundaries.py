"""The sequential test's boundaries: error spending and recursive numerical integration.

Hwang-Shih-DeCani spending of both errors (gate/stats.py names the sources),
carried from look to look on a Simpson grid as in Jennison & Turnbull,
"Group Sequential Methods with Applications to Clinical Trials" (2000),
ch. 19; and the inflation of the fixed-sample information for which the
design's planned looks end.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from edgeops.gate.stats import SequentialDesign

_GRID = 121
_NORMAL = NormalDist()


def _spent(total: float, gamma: float, t: float) -> float:
    """Hwang-Shih-DeCani spending: the error spent by information fraction t."""
    t = min(max(t, 0.0), 1.0)
    if gamma == 0:
        return total * t
    return total * (1 - math.exp(-gamma * t)) / (1 - math.exp(-gamma))


def _norm_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x) for arrays, by erfc with fractional error below 1.2e-7 (Numerical Recipes, erfcc)."""
    z = np.abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
        + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
        + t * (-0.82215223 + t * 0.17087277))))))))  # fmt: skip
    erfc = t * np.exp(poly)
    return np.where(x >= 0, 1.0 - 0.5 * erfc, 0.5 * erfc)


def _norm_pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _simpson(lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    z = np.linspace(lo, hi, _GRID)
    w = np.ones(_GRID)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return z, w * (hi - lo) / (3 * (_GRID - 1))


def _solve(f: Callable[[np.ndarray], np.ndarray], target: float) -> float:
    """x in [-12, 12] with f(x) = target, for f increasing and vectorised over x.

    Two passes of 65 points each (bracket, then refine) and linear
    interpolation: error ~1e-5 in z, in two matrix products instead of the
    sixty calls of a bisection (the gate's simulations call this ~10^6 times).
    """
    lo, hi = -12.0, 12.0
    for _ in range(2):
        xs = np.linspace(lo, hi, 65)
        ys = f(xs)
        i = int(np.searchsorted(ys, target))
        if i == 0:
            return lo
        if i >= len(xs):
            return hi
        lo, hi = float(xs[i - 1]), float(xs[i])
        y0, y1 = float(ys[i - 1]), float(ys[i])
    return lo if y1 == y0 else lo + (target - y0) * (hi - lo) / (y1 - y0)


@cache
def _boundaries(
    fractions: tuple[float, ...], design: SequentialDesign
) -> list[tuple[float, float]]:
    """(pass, fail) boundaries on the z scale at each information fraction.

    z at look k is S_k / sqrt(I_k), S a Brownian motion with drift theta in
    information time; the sub-densities of z on the continuation region are
    carried from look to look on a Simpson grid, under H0 (drift 0) and H1
    (drift theta, whose scale is fixed by the design: theta*sqrt(I_max) =
    sqrt(inflation)*(z_alpha + z_beta)).
    """
    scale = math.sqrt(_inflation(design)) * (
        _NORMAL.inv_cdf(1 - design.alpha) + _NORMAL.inv_cdf(design.power)
    )
    return _boundaries_at(fractions, design, scale)


def _boundaries_at(
    fractions: tuple[float, ...], design: SequentialDesign, scale: float, force_last: bool = True
) -> list[tuple[float, float]]:
    beta = 1 - design.power
    out: list[tuple[float, float]] = []
    grid: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
    prev_t = 0.0
    for k, t in enumerate(fractions):
        drift = scale * math.sqrt(t)  # theta * sqrt(I_k) under H1
        alpha_k = _spent(design.alpha, design.gamma_alpha, t) - _spent(
            design.alpha, design.gamma_alpha, prev_t
        )
        beta_k = _spent(beta, design.gamma_beta, t) - _spent(beta, design.gamma_beta, prev_t)
        if grid is None:
            b = _NORMAL.inv_cdf(1 - alpha_k) if alpha_k > 0 else 12.0
            a = drift + _NORMAL.inv_cdf(beta_k) if beta_k > 0 else -12.0
        else:
            z, w, f0, f1 = grid
            s, sp = math.sqrt(t), math.sqrt(prev_t)
            sd = math.sqrt(t - prev_t)
            shift = scale * (t - prev_t)  # H1's drift over the increment, in sqrt(I_max) units

            def tail0(
                x: np.ndarray,
                z: np.ndarray = z,
                w: np.ndarray = w,
                f0: np.ndarray = f0,
                s: float = s,
                sp: float = sp,
                sd: float = sd,
            ) -> np.ndarray:
                return _norm_cdf((x[:, None] * s - z[None, :] * sp) / sd) @ (w * f0)

            def low1(
                x: np.ndarray,
                z: np.ndarray = z,
                w: np.ndarray = w,
                f1: np.ndarray = f1,
                s: float = s,
                sp: float = sp,
                sd: float = sd,
                shift: float = shift,
            ) -> np.ndarray:
                return _norm_cdf((x[:, None] * s - z[None, :] * sp - shift) / sd) @ (w * f1)

            total0 = float((w * f0).sum())
            total1 = float((w * f1).sum())
            # P0(z_k >= b, continued so far) = alpha_k: the mass below b is total0 - alpha_k.
            # Error that cannot be spent (little is left to continue) is not: the bound stays out of reach.
            b = _solve(tail0, total0 - alpha_k) if 0 < alpha_k < total0 else 12.0
            a = _solve(low1, beta_k) if 0 < beta_k < total1 else -12.0
        last = k == len(fractions) - 1
        # Boundaries within 0.05 of each other have met: what is left to decide
        # is below the grid's accuracy, and the t scale would reopen a gap.
        if a >= b - 0.05 or (force_last and t >= 1.0):
            out.append((b, b))
            break
        out.append((a, b))
        if last:
            break
        lo, hi = max(a, -8.0), min(b, drift + 8.0)
        zn, wn = _simpson(lo, hi)
        if grid is None:
            f0n, f1n = _norm_pdf(zn), _norm_pdf(zn - drift)
        else:
            z, w, f0, f1 = grid
            s, sp, sd = math.sqrt(t), math.sqrt(prev_t), math.sqrt(t - prev_t)
            shift = scale * (t - prev_t)
            kernel0 = _norm_pdf((zn[:, None] * s - z[None, :] * sp) / sd) * s / sd
            kernel1 = _norm_pdf((zn[:, None] * s - z[None, :] * sp - shift) / sd) * s / sd
            f0n, f1n = kernel0 @ (w * f0), kernel1 @ (w * f1)
        grid = (zn, wn, f0n, f1n)
        prev_t = t
    return out


@cache
def _inflation(design: SequentialDesign) -> float:
    """Maximum over fixed-sample information for which the planned looks' boundaries meet.

    Found by bisection: too little information leaves a gap between the
    boundaries at the last planned look, too much makes them cross early.
    """
    k = design.planned_looks
    fractions = tuple((i + 1) / k for i in range(k))
    z = _NORMAL.inv_cdf(1 - design.alpha) + _NORMAL.inv_cdf(design.power)
    lo, hi = 1.0, 1.6
    for _ in range(30):
        mid = (lo + hi) / 2
        bounds = _boundaries_at(fractions, design, math.sqrt(mid) * z, force_last=False)
        a, b = bounds[-1]
        if len(bounds) < k or a >= b:
            hi = mid
        else:
            lo = mid
    return hi
