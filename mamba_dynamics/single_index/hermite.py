"""Hermite links of single-index targets and their information / generative exponents (arXiv 2510.12026, Sec. 1.2
of the spec).

Glossary: ``He_k`` = probabilists' Hermite polynomial; ``h_k = He_k / sqrt(k!)`` (orthonormal under N(0, 1));
a link ``g`` is stored by its coefficients ``c`` in the ``h_k`` basis, ``g(z) = sum_k c_k h_k(z)``;
``ie(g) = min{k >= 1 : c_k != 0}``; ``ge(g) = min_T ie(T o g)`` over label transforms ``T``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import hermite_e as He

#: Named links (coefficients on h_0, h_1, ...).
NAMED_LINKS = {
    "h2": (0.0, 0.0, 1.0),
    "h3": (0.0, 0.0, 0.0, 1.0),
    "h4": (0.0, 0.0, 0.0, 0.0, 1.0),
    "h2+h3": (0.0, 0.0, 1 / math.sqrt(2), 1 / math.sqrt(2)),
    "h2+h4": (0.0, 0.0, 1 / math.sqrt(2), 0.0, 1 / math.sqrt(2)),
}


def he(k: int, z: np.ndarray) -> np.ndarray:
    """``He_k(z)`` by the three-term recurrence ``He_{k+1} = z He_k - k He_{k-1}``; any shape."""
    z = np.asarray(z, dtype=float)
    prev, cur = np.ones_like(z), z.copy()
    if k == 0:
        return prev
    for n in range(1, k):
        prev, cur = cur, z * cur - n * prev
    return cur


def h(k: int, z: np.ndarray) -> np.ndarray:
    """Normalised ``h_k = He_k / sqrt(k!)``."""
    return he(k, z) / math.sqrt(math.factorial(k))


def monomial_to_hermite(monomial: list[float]) -> np.ndarray:
    """Coefficients of ``sum_j a_j z^j`` in the ``h_k`` basis."""
    c_he = He.poly2herme(np.asarray(monomial, dtype=float))
    return np.array([c * math.sqrt(math.factorial(k)) for k, c in enumerate(c_he)])


def normalise(coefs) -> np.ndarray:
    """Drop the constant term and scale to ``E[g(z)^2] = 1`` (so ``E[g] = 0``), as in the paper's setting."""
    c = np.asarray(coefs, dtype=float).copy()
    if len(c):
        c[0] = 0.0
    norm = float(np.sqrt(np.sum(c**2)))
    if norm == 0.0:
        raise ValueError("the link is constant; it carries no signal")
    return c / norm


def parse_link(spec: str) -> np.ndarray:
    """A named link (``h2``, ``h3``, ``h4``, ``h2+h3``, ``h2+h4``), ``herm:c0,c1,...`` (coefficients on ``h_k``)
    or ``poly:a0,a1,...`` (monomial coefficients, ``sum a_j z^j``); returned normalised."""
    if spec in NAMED_LINKS:
        return normalise(NAMED_LINKS[spec])
    try:
        kind, _, body = spec.partition(":")
        values = [float(v) for v in body.split(",") if v.strip()]
        if kind == "herm" and values:
            return normalise(values)
        if kind == "poly" and values:
            return normalise(monomial_to_hermite(values))
    except ValueError as exc:
        if "constant" in str(exc):
            raise
    raise ValueError(f"unknown link {spec!r}: use one of {', '.join(NAMED_LINKS)}, herm:c0,c1,... or "
                     f"poly:a0,a1,...")


def link_value(coefs: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``g(z) = sum_k c_k h_k(z)``; any shape."""
    out = np.zeros_like(np.asarray(z, dtype=float))
    for k, c in enumerate(coefs):
        if c != 0.0:
            out = out + c * h(k, z)
    return out


def information_exponent(coefs) -> int:
    """``ie(g)``: index of the first non-zero Hermite coefficient of degree >= 1."""
    for k, c in enumerate(coefs):
        if k >= 1 and abs(c) > 1e-12:
            return k
    raise ValueError("constant link")


def generative_exponent(coefs) -> int:
    """``ge(g)`` of a polynomial link: 1 if ``g`` has an odd-degree part, else 2.

    For an even ``g``, every ``T(g(z))`` is even in ``z`` so no transform has a degree-1 component (ge >= 2), and
    ``T = g`` itself has a non-zero degree-2 component after centring for non-constant even polynomials
    (ge = 2).  For a polynomial with an odd part the preimages of large ``|y|`` are not symmetric, so
    ``E[z | g(z)]`` is not identically zero and a transform with a degree-1 component exists (ge = 1).
    ``tests/test_single_index.py`` checks both cases by Monte Carlo.
    """
    c = np.asarray(coefs, dtype=float)
    information_exponent(c)  # raises on constant links
    odd = np.any(np.abs(c[1::2]) > 1e-12)
    return 1 if odd else 2
