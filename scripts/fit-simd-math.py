#!/usr/bin/env python3
"""Fits the polynomial coefficients used by native/core/simd_math.h (run: python3 scripts/fit-simd-math.py).

Each approximation is a near-minimax polynomial in the weighted (relative) error, found by Lawson's
iteratively reweighted least squares on Chebyshev nodes, with the target functions evaluated by mpmath at
40 digits. The coefficients are printed rounded to float32, as the C++ code uses them. Needs numpy and
mpmath; the output is deterministic.
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 40


def chebyshev_nodes(a, b, n):
    k = np.arange(n)
    return (a + b) / 2 + (b - a) / 2 * np.cos(np.pi * (k + 0.5) / n)


def fit(f, weight, a, b, degree, nodes=1500, iterations=300):
    """Coefficients c[0..degree] minimising max |weight(x) * (sum c_k x^k - f(x))| on [a, b]."""
    xs = chebyshev_nodes(a, b, nodes)
    A = np.vander(xs, degree + 1, increasing=True)
    y = np.array([f(x) for x in xs])
    w = np.array([weight(x) for x in xs])
    lam = np.full(len(xs), 1.0 / len(xs))
    for _ in range(iterations):
        s = np.sqrt(lam) * w
        c, *_ = np.linalg.lstsq(A * s[:, None], y * s, rcond=None)
        e = np.abs((A @ c - y) * w)
        lam = lam * e
        lam /= lam.sum()
    return c, float(np.max(np.abs((A @ c - y) * w)))


def show(name, c, err, note):
    print(f"// {name}: {note}; max weighted error {err:.2e}")
    print("  " + ", ".join(f"{float(np.float32(v))!r}f" for v in c))


M = mp.mpf

# exp(r) = 1 + r + r^2 q(r) on |r| <= ln2/2 (after n = round(x / ln 2)); relative error of exp.
h = float(mp.log(2) / 2)
c, e = fit(lambda r: float((mp.exp(r) - 1 - r) / M(r) ** 2), lambda r: r * r / np.exp(r), -h, h, 4)
show("exp q(r)", c, e, "e^r = 1 + r + r^2 q(r), |r| <= ln2/2")

# log1p(e) = 2s + s z q(z), s = e/(2+e), z = s^2, for e in [0, 1] (softplus's log1p(e^-|x|)): s <= 1/3.
def qlog(z):
    s = mp.sqrt(M(z))
    return float((mp.log((1 + s) / (1 - s)) - 2 * s) / s**3) if s > 0 else 2.0 / 3.0
c, e = fit(qlog, lambda z: z / 2, 0, 1 / 9 * 1.0001, 3)
show("log1p q(z)", c, e, "log1p(e) = 2s + s z q(z), s = e/(2+e), z = s^2 <= 1/9")

# tanh(x) = x + x^3 q(x^2) for |x| < atanh(1/2) (above, 1 - 2/(e^{2x}+1) loses nothing).
T = float(mp.atanh(0.5))
def qtanh(y):
    x = mp.sqrt(M(y))
    return float((mp.tanh(x) - x) / x**3) if x > 0 else -1.0 / 3.0
c, e = fit(qtanh, lambda y: y * np.sqrt(y) / float(mp.tanh(mp.sqrt(y))) if y > 0 else 0.0, 0, T * T, 4)
show("tanh q(y)", c, e, "tanh(x) = x + x^3 q(x^2), |x| < atanh(1/2)")

# erf(x) = x p(x^2) for |x| < 0.75.
def perf(y):
    x = mp.sqrt(M(y))
    return float(mp.erf(x) / x) if x > 0 else float(2 / mp.sqrt(mp.pi))
c, e = fit(perf, lambda y: 1 / perf(y), 0, 0.75**2, 5)
show("erf p(y)", c, e, "erf(x) = x p(x^2), |x| < 0.75")

# erfc(x) = exp(-x^2) u q(u - u0), u = 2/(2+x), for 0.75 <= x <= 10.5 (beyond, exp(-x^2) underflows);
# centred on the middle of the u interval so that the Horner evaluation is well conditioned.
ua, ub = 2 / 12.5, 2 / 2.75
u0 = (ua + ub) / 2
def qerfc(v):
    u = M(v + u0)
    x = 2 / u - 2
    return float(mp.erfc(x) * mp.exp(x * x) / u)
c, e = fit(qerfc, lambda v: 1 / qerfc(v), ua - u0, ub - u0, 8)
show("erfc q(v)", c, e, f"erfc(x) = exp(-x^2) u q(u - {u0!r}), u = 2/(2+x), 0.75 <= x <= 10.5")
