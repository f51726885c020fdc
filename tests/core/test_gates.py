"""core.gates: the scalar gates of App. E.6 (Mamba, Mamba-2, gated retention, RetNet, none) and GLA's vector gate:
the O(l) log-gates equal the written-out product, the Numba terms equal NumPy's, the slopes equal sympy's
derivative, and nothing overflows or turns NaN for huge pre-activations or long prompts."""

import numpy as np
import pytest

from mamba_dynamics.core import gates, gating
from mamba_dynamics.core.gates import KINDS, Gate, VectorGate
from numba import njit

ALL = [Gate(k, tau=3.0, gamma=0.9) for k in KINDS]


@njit(cache=False)
def _terms(code, t, inv_tau, gamma):
    out = np.empty((len(t), 4))
    for i in range(len(t)):
        out[i, 0], out[i, 1], out[i, 2], out[i, 3] = gates.gate_terms(code, t[i], inv_tau, gamma)
    return out


@pytest.mark.parametrize("gate", ALL, ids=lambda g: g.kind)
def test_fast_log_gates_equal_the_product_written_out(gate):
    t = np.random.default_rng(0).standard_normal((4, 31)) * 5
    np.testing.assert_allclose(gates.log_gates(t, gate), gates.log_gates_naive(t, gate), rtol=1e-12, atol=1e-11)


def test_mamba_gate_is_the_core_gating_bit_for_bit():
    t = np.random.default_rng(1).standard_normal((6, 21)) * 4
    assert np.array_equal(gates.log_gates(t, Gate("mamba")), gating.log_gates(t))


@pytest.mark.parametrize("gate", ALL, ids=lambda g: g.kind)
def test_numba_terms_equal_numpy_and_stay_finite(gate):
    t = np.concatenate([np.linspace(-60, 60, 241), [-1e4, -800.0, 800.0, 1e4, 0.0]])
    got = _terms(*gate.args[:1], t, *gate.args[1:])
    assert np.isfinite(got).all()
    want = np.stack([np.exp(gates.log_coef(t, gate)), np.exp(gates.log_decay(t, gate)),
                     gates.dlog_coef(t, gate), gates.dlog_decay(t, gate)], axis=1)
    ok = np.isfinite(want)  # Mamba-2's a = softplus(t) is finite everywhere; exp(log a) may overflow only past 700
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("kind", list(KINDS))
def test_slopes_are_sympys_derivatives(kind):
    c = gates.slope_checks(Gate(kind, tau=3.0, gamma=0.9))
    assert c["alpha"] == 0 and c["beta"] == 0 and c["num_alpha"] < 1e-25 and c["num_beta"] < 1e-25


def test_long_prompts_and_saturated_gates_stay_finite():
    t = np.random.default_rng(2).standard_normal((2, 10_001)) * 300
    for gate in ALL:
        lg = gates.log_gates(t, gate)
        assert not np.isnan(lg).any() and (lg <= 1e-12 + np.log(max(1.0, np.exp(0)) * 1e4)).all()
    T = np.random.default_rng(3).standard_normal((2, 10_001, 4)) * 300
    v = gates.vector_log_gates(T, VectorGate(2.0))
    assert not np.isnan(v).any() and (v <= 0).all()
    np.testing.assert_allclose(v[:, -50:], gates.vector_log_gates_naive(T[:, -51:], VectorGate(2.0)), rtol=1e-12)


def test_bad_gates_are_refused():
    for kw in (dict(kind="lstm"), dict(tau=0.0), dict(tau=np.inf), dict(gamma=1.0), dict(gamma=0.0)):
        with pytest.raises(ValueError):
            Gate(**kw)
    with pytest.raises(ValueError):
        VectorGate(-1.0)
    assert not Gate("none") and Gate("retnet") and not Gate("retnet").learned and Gate("gret").learned
    assert gates.as_gate(True) == Gate("mamba") and gates.as_gate(False) == Gate("none")
