"""Data generator of Section 3.2: orthogonality, fractions, labels, task split, placements, determinism."""

import numpy as np
import pytest

from mamba_dynamics.outliers.config import OutlierConfig
from mamba_dynamics.outliers.data import make_patterns, outlier_positions, sample_test, sample_train, seed_streams, task_sets

CFG = OutlierConfig()


@pytest.fixture(scope="module")
def pat():
    return make_patterns(CFG, np.random.default_rng(0))


def test_patterns_orthogonal_with_paper_norms(pat):
    allp = np.vstack([pat.mu, pat.nu, pat.vstar])
    gram = allp @ allp.T
    expected = np.diag([CFG.beta**2] * (CFG.M1 + CFG.M2) + [1.0] * CFG.V)
    np.testing.assert_allclose(gram, expected, atol=1e-12)
    # unseen outliers: the paper's coefficients on v*, coefficient sums >= L = 0.3
    coef = pat.vtest @ pat.vstar.T
    np.testing.assert_allclose(coef, np.array(CFG.test_coefs), atol=1e-12)
    assert CFG.L == pytest.approx(0.3)
    np.testing.assert_allclose(pat.vtest @ np.vstack([pat.mu, pat.nu]).T, 0, atol=1e-12)


@pytest.mark.parametrize("split", ["matching", "ring", "random", "all"])
@pytest.mark.parametrize("M1", [2, 5, 6])
def test_train_split_covers_every_pattern_with_both_labels_evenly(M1, split):
    all_tasks, train = task_sets(M1, split)
    assert len(all_tasks) == M1 * (M1 - 1)
    assert len({tuple(t) for t in train}) == len(train)
    pos = np.bincount(train[:, 0], minlength=M1)
    neg = np.bincount(train[:, 1], minlength=M1)
    assert (pos > 0).all() and (pos == neg).all()
    if split == "matching" and M1 % 2 == 0:
        assert (pos == 1).all()  # a perfect matching: no two training pairs share a pattern


def test_matching_split_leaves_unseen_tasks():
    all_tasks, train = task_sets(6)
    assert len(train) == 6 and len(all_tasks) == 30


def test_train_batch_statistics(pat):
    b = sample_train(CFG, pat, np.random.default_rng(1), B=4000)
    assert b.P.shape == (4000, CFG.l_tr + 1, CFG.d + 1)
    assert abs(b.outlier.mean() - CFG.p_a) < 0.01
    assert np.all(b.P[:, -1, -1] == 0)  # query label slot
    x, y = b.P[:, :-1, :-1], b.P[:, :-1, -1]
    # relevant-pattern coefficients: exactly one pattern at beta, recovered by projection
    coef = x @ pat.mu.T / CFG.beta**2
    j = coef.argmax(-1)
    np.testing.assert_allclose(coef.max(-1), 1.0, atol=1e-12)
    _, train = task_sets(CFG.M1, CFG.train_tasks)
    a = train[b.task, 0][:, None]
    clean_label = np.where(j == a, 1.0, -1.0)
    assert np.all(y[~b.outlier] == clean_label[~b.outlier])
    # outlier labels are random: about half agree with the pattern's label
    assert abs(np.mean(y[b.outlier] == clean_label[b.outlier]) - 0.5) < 0.02
    # outlier component kappa_a v*_s present exactly on outliers
    vmag = np.linalg.norm(x @ pat.vstar.T, axis=-1)
    np.testing.assert_allclose(vmag[b.outlier], CFG.kappa_a, atol=1e-12)
    np.testing.assert_allclose(vmag[~b.outlier], 0.0, atol=1e-12)
    # irrelevant scale within [-K, K]
    assert np.all(np.abs(x @ pat.nu.T / CFG.beta**2) <= CFG.K + 1e-12)
    # query: clean, label z
    assert np.all(np.abs(b.P[:, -1, :-1] @ pat.vstar.T) < 1e-12)
    assert set(np.unique(b.z)) == {-1.0, 1.0}


@pytest.mark.parametrize("rule", ["flip", "targeted", "random"])
def test_test_batch_labels_and_exact_fraction(pat, rule):
    cfg = CFG.replace(alpha=0.35, label_rule=rule, target_label=-1, outlier_count="exact")
    b = sample_test(cfg, pat, np.random.default_rng(2), n=3000)
    n_out = int(np.floor(0.35 * cfg.l_ts + 0.5))
    assert np.all(b.outlier.sum(1) == n_out)
    x, y = b.P[:, :-1, :-1], b.P[:, :-1, -1]
    j = (x @ pat.mu.T).argmax(-1)
    all_tasks, _ = task_sets(cfg.M1, cfg.train_tasks)
    true = np.where(j == all_tasks[b.task, 0][:, None], 1.0, -1.0)
    assert np.all(y[~b.outlier] == true[~b.outlier])
    if rule == "flip":
        assert np.all(y[b.outlier] == -true[b.outlier])
    elif rule == "targeted":
        assert np.all(y[b.outlier] == -1.0)
    else:
        assert abs(np.mean(y[b.outlier] == 1.0) - 0.5) < 0.02
    # unseen outliers of magnitude kappa'_a along V'
    proj = x[b.outlier] - (x[b.outlier] @ np.vstack([pat.mu, pat.nu]).T) @ np.vstack([pat.mu, pat.nu]) / CFG.beta**2
    norms = np.linalg.norm(proj, axis=-1) / cfg.kappa_a_test
    np.testing.assert_allclose(norms, np.linalg.norm(pat.vtest, axis=1)[0], atol=0.02)
    # tasks are drawn from all of T, including tasks unseen in training
    assert len(np.unique(b.task)) == len(all_tasks) and (~b.seen).any() and b.seen.any()


def test_placements():
    rng = np.random.default_rng(0)
    fq = outlier_positions(5, 10, 3, "FQ", rng)
    cq = outlier_positions(5, 10, 3, "CQ", rng)
    r = outlier_positions(2000, 10, 3, "R", rng)
    assert fq[:, :3].all() and not fq[:, 3:].any()
    assert cq[:, -3:].all() and not cq[:, :-3].any()
    assert (r.sum(1) == 3).all()
    assert np.allclose(r.mean(0), 0.3, atol=0.05)  # uniform over positions


def test_seeded_determinism():
    a, b = seed_streams(7), seed_streams(7)
    pa, pb = make_patterns(CFG, a["patterns"]), make_patterns(CFG, b["patterns"])
    np.testing.assert_array_equal(pa.mu, pb.mu)
    np.testing.assert_array_equal(sample_train(CFG, pa, a["train"]).P, sample_train(CFG, pb, b["train"]).P)
    c = seed_streams(8)
    assert not np.allclose(make_patterns(CFG, c["patterns"]).mu, pa.mu)


@pytest.mark.parametrize("placement", ["R", "FQ", "CQ"])
def test_per_example_outlier_count_is_binomial(pat, placement):
    """Def. 2: with outlier_count = per-example each test example is an outlier with probability alpha, so the
    count per prompt is Binomial(l_ts, alpha), placed by the placement rule."""
    cfg = CFG.replace(alpha=0.35, outlier_count="per-example", placement=placement)
    b = sample_test(cfg, pat, np.random.default_rng(3), n=4000)
    counts = b.outlier.sum(1)
    assert abs(counts.mean() - 0.35 * cfg.l_ts) < 0.1 and abs(counts.var() - cfg.l_ts * 0.35 * 0.65) < 0.5
    if placement == "FQ":
        assert all(b.outlier[i, :c].all() for i, c in enumerate(counts[:50]))
    if placement == "CQ":
        assert all(b.outlier[i, cfg.l_ts - c:].all() for i, c in enumerate(counts[:50]))


@pytest.mark.parametrize("B, l", [(1, 1), (7, 20), (64, 5)])
def test_numba_prompt_fill_equals_the_numpy_expression(pat, B, l):
    """``_fill_prompts`` (the Numba pass every batch goes through) against its naive NumPy reference: the same
    prompts bit for bit, outliers on context examples only, labels in the last column, 0 at the query."""
    from mamba_dynamics.outliers import data

    rng = np.random.default_rng(B + l)
    t, j, k, kappa, y = data._clean_draws(task_sets(CFG.M1)[1], len(pat.nu), rng, B, l, 0.5)
    amp = np.where(rng.random((B, l)) < 0.4, 2.0, 0.0)
    s = rng.integers(len(pat.vstar), size=(B, l))
    P = np.empty((B, l + 1, CFG.d + 1))
    data._fill_prompts(pat.mu, pat.nu, pat.vstar, j, k, kappa, amp, s, y, P)
    x = pat.mu[j] + kappa[..., None] * pat.nu[k]
    x[:, :l] += amp[..., None] * pat.vstar[s]
    assert np.array_equal(P[..., :-1], x) and np.array_equal(P[:, :l, -1], y[:, :l]) and np.all(P[:, l, -1] == 0)


def test_task_sets_are_cached_and_read_only():
    a, b = task_sets(6, "ring"), task_sets(6, "ring")
    assert a[0] is b[0] and a[1] is b[1]
    with pytest.raises(ValueError):
        a[1][0, 0] = 3
