"""The normal and Student t distribution functions the gate needs, from the standard library.

scipy.special has them (scipy.stats' `norm` and `t` call its `ndtr`, `ndtri`, `stdtr` and
`stdtrit`), but importing scipy.special costs about 0.4 s, most of what `evals gate` on saved
runs would otherwise spend, for four functions evaluated at a handful of points. Here:

- the normal CDF through `math.erfc`, its quantile through `statistics.NormalDist` (Wichura's
  AS241, the algorithm behind scipy's `ndtri`);
- Student's t CDF through the regularized incomplete beta function, I_x(df/2, 1/2) with
  x = df/(df+t²), evaluated by its continued fraction (modified Lentz; Press et al.,
  Numerical Recipes, 3rd ed., §6.4), and its quantile by Newton's method on that CDF,
  safeguarded by bisection.

Both agree with scipy to about 1e-12 (tests/test_stats.py checks them against it). Each
takes scalars or arrays; an infinite df is the normal distribution.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist
from typing import Any

import numpy as np

_NORMAL = NormalDist()
_MAX_TERMS = 100_000  # the continued fraction needs O(sqrt(df)) terms
_EPS = 1e-15
_ERFC = np.frompyfunc(math.erfc, 1, 1)
VECTOR_FROM = 32  # elements of t (finite df) beyond which scipy's ufuncs are used


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _norm_ppf(q: float) -> float:
    if math.isnan(q) or not 0.0 <= q <= 1.0:
        return math.nan
    if q in (0.0, 1.0):
        return math.copysign(math.inf, q - 0.5)
    return _NORMAL.inv_cdf(q)


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (Numerical Recipes' betacf), by modified Lentz."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, _MAX_TERMS):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        step = d * c
        h *= step
        if abs(step - 1.0) < _EPS:
            break
    return h


def _log_gamma_ratio(a: float) -> float:
    """ln Γ(a + ½) − ln Γ(a); for large a by its asymptotic series, since the difference of two
    large lgamma values would keep only ~1e-16·ln Γ(a) of absolute accuracy (1e-9 at df = 10⁶)."""
    if a < 100:
        return math.lgamma(a + 0.5) - math.lgamma(a)
    return 0.5 * math.log(a) - 1 / (8 * a) + 1 / (192 * a**3) + 1 / (640 * a**5) - 17 / (14336 * a**7)


def _t_tail(t: float, df: float) -> float:
    """P(T > t) for t ≥ 0: ½·I_x(df/2, ½) with x = df/(df+t²), 1 − x = t²/(df+t²) computed on its own."""
    if t == 0:
        return 0.5
    ratio = t * t / df
    if math.isinf(ratio):
        return 0.0
    a, b = df / 2.0, 0.5
    x, y = 1.0 / (1.0 + ratio), ratio / (1.0 + ratio)
    log_front = _log_gamma_ratio(a) - 0.5 * math.log(math.pi) - a * math.log1p(ratio) + b * math.log(y)
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        regularized = front * _beta_fraction(a, b, x) / a
    else:
        regularized = 1.0 - front * _beta_fraction(b, a, y) / b
    return 0.5 * regularized


def _t_cdf(t: float, df: float) -> float:
    if math.isnan(t) or math.isnan(df) or df <= 0:
        return math.nan
    if math.isinf(df):
        return _norm_cdf(t)
    tail = _t_tail(abs(t), df)
    return 1.0 - tail if t > 0 else tail


def _t_pdf(t: float, df: float) -> float:
    return math.exp(_log_gamma_ratio(df / 2) - 0.5 * math.log(df * math.pi) - (df + 1) / 2 * math.log1p(t * t / df))


@lru_cache(maxsize=1 << 16)  # the gate's critical values: one α, a handful of dfs, asked over and over by simulations
def _t_ppf(q: float, df: float) -> float:
    if math.isnan(q) or math.isnan(df) or df <= 0 or not 0.0 <= q <= 1.0:
        return math.nan
    if math.isinf(df) or q in (0.0, 1.0):
        return _norm_ppf(q)
    if q == 0.5:
        return 0.0
    # Solve P(T > t) = p in the upper tail, where the tail keeps its digits, then restore the sign.
    p, sign = (1.0 - q, 1.0) if q > 0.5 else (q, -1.0)
    lo, hi = 0.0, 1.0
    while _t_tail(hi, df) > p:  # a bracket [lo, hi] around the quantile
        lo, hi = hi, hi * 4.0
        if hi > 1e300:
            return sign * math.inf
    t = min(max(-_norm_ppf(p), lo), hi)
    for _ in range(200):
        f = _t_tail(t, df) - p  # decreasing in t
        if f == 0.0:
            break
        if f > 0:
            lo = t
        else:
            hi = t
        density = _t_pdf(t, df)
        step = t + f / density if density > 0 else math.nan
        t_next = step if lo < step < hi else (lo + hi) / 2.0  # Newton, or bisect when it leaves the bracket
        if abs(t_next - t) <= 1e-15 * max(1.0, abs(t)):
            t = t_next
            break
        t = t_next
    return sign * t


def _apply(scalar: Any, x: Any, df: Any) -> Any:
    """`scalar` over broadcast arrays (a float for scalar inputs)."""
    if np.ndim(x) == 0 and np.ndim(df) == 0:
        return scalar(float(x), float(df))
    xs, dfs = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(df, dtype=float))
    if xs.size > VECTOR_FROM:
        # Simulations (calibration, power) evaluate t at thousands of points: there scipy's
        # ufuncs are worth their import, and a Python loop is not (math.erfc element by element
        # was half of the exact calibration's time, in the power advice of its checks).
        from scipy import special

        normal = special.ndtr(xs) if scalar is _t_cdf else special.ndtri(xs)
        if np.isinf(dfs).all():
            return normal
        finite = np.where(np.isinf(dfs), 1.0, dfs)
        return np.where(np.isinf(dfs), normal, special.stdtr(finite, xs) if scalar is _t_cdf else special.stdtrit(finite, xs))
    if scalar is _t_cdf and np.isinf(dfs).all():  # a few normal points: no scipy to import
        return 0.5 * _ERFC(-xs / math.sqrt(2.0)).astype(float)
    memo: dict[tuple[float, float], float] = {}  # a quantile at one df is asked once per distinct df

    def one(a: float, b: float) -> float:
        if (a, b) not in memo:
            memo[a, b] = scalar(a, b)
        return memo[a, b]

    return np.fromiter((one(a, b) for a, b in zip(xs.ravel().tolist(), dfs.ravel().tolist())), dtype=float, count=xs.size).reshape(xs.shape)


def t_cdf(t: Any, df: Any) -> Any:
    """P(T ≤ t) for Student's t with df degrees of freedom (the normal CDF where df is infinite)."""
    return _apply(_t_cdf, t, df)


def t_ppf(q: Any, df: Any) -> Any:
    """The q quantile of Student's t with df degrees of freedom (the normal quantile where df is infinite)."""
    return _apply(_t_ppf, q, df)
