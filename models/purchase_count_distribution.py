"""The distribution of a customer's number of future purchases Y(t), given alive, for every BTYD count model.

Given alive at T, the BG-family models (BG/NBD, MBG/NBD, MBG/CNBD-k) have independent posteriors: the purchase
rate lambda ~ Gamma(r + k x + j, alpha + T) and the dropout probability p ~ Beta(a, b'), with b' = b + x (BG/NBD) or
b + x + 1 (MBG: dropout also possible at the first purchase), and for CNBD-k a weight w_j on the j = 0..k-1 Erlang
sub-events already elapsed since the last purchase (w_j ~ Gamma(r+kx+j)/Gamma(r+kx) ((T - t_x)/(alpha + T))^j / j!,
the terms of Platzer & Reutterer's likelihood). The n-th future purchase happens once (n k - j) sub-events have
occurred and counts only if the customer survived the n - 1 dropout chances before it, so

    P(Y(t) >= n | alive, j) = B(a, b' + n - 1) / B(a, b') * I_z(n k - j, r + k x + j),   z = t / (alpha + T + t)

(I the regularised incomplete beta: the Poisson-gamma count reaches m with probability I_z(m, shape)). With k = 1
this is the series form of Fader, Hardie & Lee's conditional PMF of the BG/NBD ("Deriving the conditional PMF of
the BG/NBD model", 2005 note) and sums to eq. 10 (tests check both against the closed forms).

Pareto/NBD (Fader & Hardie 2006 note on its conditional PMF): given alive, lambda ~ Gamma(r + x, alpha + T) and the
dropout rate mu ~ Gamma(s, beta + T); the n-th purchase at time S_n counts when S_n < min(t, tau). Integrating mu
out, P(Y(t) >= n | alive) = E[1{S_n < t} g(S_n)] with g(u) = ((beta+T)/(beta+T+u))^s; by parts,

    P(Y(t) >= n | alive) = F_n(t) g(t) + integral_0^t F_n(u) s g(u) / (beta + T + u) du,
    F_n(u) = I_{u/(alpha+T+u)}(n, r+x)

evaluated by Gauss-Legendre quadrature (32 nodes; tests: E[Y] to 1e-6 of the closed form).

From the survival function S_n = P(Y >= n | alive) the moments follow: E[Y] = sum S_n, E[Y(Y-1)] = sum 2(n-1) S_n.
The sums run in blocks of n until every customer's S_n is below 1e-10 of its P(Y >= 1) (or 1e-14 absolutely).
Everything here depends on the customer only through (x, T) (and j), so callers evaluate it once per distinct pair.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import betainc, betaln

from models.btyd_inputs import FloatArray

_BLOCK = 24  # values of n per vectorised block
_MAX_N = 20_000  # hard cap on the series (a customer expected to buy more than this in t is not a BTYD case)
_REL_TOL = 1e-10
_ABS_TOL = 1e-14
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(32)


@dataclass(frozen=True)
class CountMoments:
    """Per pair, given alive: P(Y >= 1), E[Y] and E[Y(Y - 1)] over the horizon."""

    p_any: FloatArray
    mean: FloatArray
    factorial2: FloatArray


SurvivalFn = Callable[[FloatArray, np.ndarray], FloatArray]
"""(n values (N,), pair indices (U,)) -> P(Y >= n | alive) of shape (N, U)."""


def betainc_steps(a0: FloatArray, count: int, b: FloatArray, z: FloatArray, step: int = 1) -> FloatArray:
    """I_z(a0 + i step, b) for i = 0..count-1 (leading axis), by the upward recurrence in the first argument.

    I_z(a + 1, b) = I_z(a, b) - t(a) with t(a) = z^a (1-z)^b / (a B(a, b)) and t(a + 1) = t(a) z (a + b) / (a + 1)
    (DLMF 8.17.20), so a block costs one ``betainc`` and one ``t`` instead of ``count`` continued fractions: the
    series below take blocks of 24 values of n, and betainc was most of their time. The subtraction loses at most
    about ``count x step`` ulps of I_z(a0, b); the series stop long before that matters (1e-10 of P(Y >= 1)).
    """
    a = np.asarray(a0, dtype="float64")
    out = np.empty((count, *np.broadcast(a, b, z).shape))
    current = betainc(a, b, z)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        log_t = a * np.log(z) + b * np.log1p(-z) - np.log(a) - betaln(a, b)
        term = np.where(z > 0, np.exp(log_t), 0.0)
    out[0] = current
    aa = a
    for i in range(1, count):
        for _ in range(step):
            current = current - term
            term = term * z * (aa + b) / (aa + 1.0)
            aa = aa + 1.0
        out[i] = np.maximum(current, 0.0)
    return out


def _consecutive(n: FloatArray) -> bool:
    return len(n) > 1 and bool(np.all(np.diff(n) == 1.0))


def _incomplete_beta(n: FloatArray, k: int, j: int, b: FloatArray, z: FloatArray) -> FloatArray:
    """I_z(n k - j, b) for the n values (leading axis) against b, z of one shape: by recurrence when n is a block."""
    if _consecutive(n):
        return betainc_steps(np.full(np.shape(b), n[0] * k - j), len(n), b, z, step=k)
    nn = n.reshape((-1,) + (1,) * np.ndim(b))
    result: FloatArray = betainc(nn * k - j, b, z)
    return result


def survival_moments(survival: SurvivalFn, n_pairs: int) -> CountMoments:
    """Sum the survival series of each pair in blocks of n until its tail is negligible."""
    p_any = np.zeros(n_pairs)
    mean = np.zeros(n_pairs)
    fact2 = np.zeros(n_pairs)
    active = np.arange(n_pairs)
    start = 1
    while len(active) and start <= _MAX_N:
        n = np.arange(start, start + _BLOCK, dtype="float64")
        S = survival(n, active)
        S = np.where(np.isfinite(S), np.clip(S, 0.0, 1.0), 0.0)
        if start == 1:
            p_any[active] = S[0]
        mean[active] += S.sum(axis=0)
        fact2[active] += (2.0 * (n[:, None] - 1.0) * S).sum(axis=0)
        last = S[-1]
        keep = last > np.maximum(_REL_TOL * p_any[active], _ABS_TOL)
        active = active[keep]
        start += _BLOCK
    return CountMoments(p_any, mean, fact2)


def bg_family_survival(  # noqa: PLR0917 - the posterior's parameters
    shape: FloatArray,
    rate: FloatArray,
    a: float,
    b_post: FloatArray,
    t: float,
    k: int = 1,
    j: int = 0,
) -> SurvivalFn:
    """P(Y(t) >= n | alive, j) for BG/NBD (k = 1, b' = b + x), MBG/NBD (b' = b + x + 1) and MBG/CNBD-k.

    ``shape`` = r + k x (without j), ``rate`` = alpha + T, per pair.
    """
    z = t / (rate + t)
    log_b0 = betaln(a, b_post)

    def survival(n: FloatArray, idx: np.ndarray) -> FloatArray:
        nn = n[:, None]
        bp = b_post[idx][None, :]
        dropout = np.exp(betaln(a, bp + nn - 1.0) - log_b0[idx][None, :])
        counts = _incomplete_beta(n, k, j, shape[idx] + j, z[idx])
        result: FloatArray = dropout * counts
        return result

    return survival


def pareto_survival(
    shape: FloatArray, rate_purchase: FloatArray, s: float, rate_dropout: FloatArray, t: float
) -> SurvivalFn:
    """P(Y(t) >= n | alive) for the Pareto/NBD by parts and 32-node Gauss-Legendre quadrature over (0, t).

    ``shape`` = r + x, ``rate_purchase`` = alpha + T, ``rate_dropout`` = beta + T, per pair.
    """
    u = 0.5 * t * (_NODES + 1.0)  # nodes on (0, t)
    w = 0.5 * t * _WEIGHTS

    def survival(n: FloatArray, idx: np.ndarray) -> FloatArray:
        sh = shape[idx]
        ra = rate_purchase[idx]
        rb = rate_dropout[idx][:, None]
        g_t = (rb[:, 0] / (rb[:, 0] + t)) ** s
        F_t = _incomplete_beta(n, 1, 0, sh, t / (ra + t))
        uu = u[None, :]
        F_u = _incomplete_beta(n, 1, 0, np.broadcast_to(sh[:, None], (len(sh), len(u))), uu / (ra[:, None] + uu))
        kernel = s * (rb / (rb + uu)) ** s / (rb + uu) * w  # (pairs, nodes): the same for every n
        result: FloatArray = F_t * g_t + np.einsum("npk,pk->np", F_u, kernel)
        return result

    return survival


def cnbd_weights(shape: FloatArray, rate: FloatArray, gap: FloatArray, k: int) -> FloatArray:
    """w_j, j = 0..k-1 (shape (k, customers)), normalised: the posterior of the elapsed Erlang sub-events.

    ``shape`` = r + k x, ``rate`` = alpha + T, ``gap`` = T - t_x. Term j is (shape)_j (gap / rate)^j / j!
    (a rising factorial), the j-th term of the likelihood's sum S2.
    """
    terms = np.ones((k, len(shape)))
    ratio = gap / rate
    for jj in range(1, k):
        terms[jj] = terms[jj - 1] * (shape + jj - 1.0) * ratio / jj
    result: FloatArray = terms / terms.sum(axis=0)
    return result
