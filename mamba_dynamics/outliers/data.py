"""Exact data generator of the outlier-ICL paper (arXiv 2510.00399, Section 3.2), vectorised and seeded: the random
choices are NumPy draws in a fixed order and one Numba pass (:func:`_fill_prompts`) writes the prompts from them.

Glossary (code name -> paper symbol):

=================  ==================  ===========================================================
code               paper               meaning
=================  ==================  ===========================================================
``mu[j]``          mu_j                relevant pattern, ``||mu_j|| = beta``, ``j < M1``
``nu[k]``          nu_k                irrelevant pattern, ``||nu_k|| = beta``, ``k < M2``
``vstar[s]``       v*_s                training outlier direction, unit norm, ``s < V``
``vtest[s]``       v'_s (in V')        unseen test outlier: ``sum_r c_sr v*_r + test_orth * o``
``tasks``          T                   all ordered pairs ``(a, b)``, ``a != b``: label +1 on mu_a, -1 on mu_b
``train_tasks``    T_tr                training split, both orders of each pair (see :func:`task_sets`)
``P``              P                   prompt, shape ``(B, l+1, d+1)``; row ``i`` is ``p_i = (x_i, y_i)``,
                                       the last row is ``p_query = (x_query, 0)``
``z``              z                   label of the query, shape ``(B,)``
=================  ==================  ===========================================================

A context input is ``x = mu_j + kappa nu_k`` (``kappa ~ U(-K, K)``, ``k`` uniform), ``j`` in ``{a, b}`` with
probability 1/2 each, label ``+1`` iff ``j = a``.  In training, each context example independently carries an
outlier ``+ kappa_a v*_s`` with probability ``p_a`` and then gets a uniformly random label.  In a test prompt,
``round(alpha * l_ts)`` examples (``outlier_count = "exact"``; with ``"per-example"`` each example independently with
probability alpha) carry ``+ kappa'_a v'_s``, at positions given by the placement (R: random,
FQ: farthest from the query, CQ: closest to it), labelled by the rule (flip / targeted / random).  The query is
always clean.  Patterns are the columns of a seeded random orthonormal basis of ``R^d``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit

from ..core.seeds import haar_basis
from ..core.seeds import seed_streams as _streams
from .config import OutlierConfig

#: Named random streams of one run (see :func:`seed_streams`).
STREAMS = ("patterns", "init", "train", "test", "loss")


@dataclass(frozen=True)
class Patterns:
    """The orthogonal pattern set; every array has shape ``(count, d)``."""

    mu: np.ndarray
    nu: np.ndarray
    vstar: np.ndarray
    vtest: np.ndarray
    orth: np.ndarray

    def as_arrays(self, prefix: str = "pattern_") -> dict:
        """The patterns a run saves: ``<prefix>mu``, ``nu``, ``vstar``, ``vtest``."""
        return {f"{prefix}{k}": getattr(self, k) for k in ("mu", "nu", "vstar", "vtest")}


@dataclass(frozen=True)
class PromptBatch:
    """A batch of prompts with the bookkeeping the metrics need.

    P: ``(B, l+1, d+1)`` prompts; z: ``(B,)`` query labels in {-1, +1};
    outlier: ``(B, l)`` bool, example carries an outlier; same: ``(B, l)`` bool, example's relevant pattern equals
    the query's; task: ``(B,)`` index into :func:`task_sets` ``[0]`` (all tasks) or the train split;
    seen: ``(B,)`` bool, the prompt's task belongs to the training split ``T_tr``.  The bookkeeping is None in a
    batch made for a gradient alone (``PromptBatch(P, z)``: what a model's ``loss_and_grad`` reads).
    """

    P: np.ndarray
    z: np.ndarray
    outlier: np.ndarray | None = None
    same: np.ndarray | None = None
    task: np.ndarray | None = None
    seen: np.ndarray | None = None


def make_patterns(cfg: OutlierConfig, rng: np.random.Generator) -> Patterns:
    """Draw the orthonormal basis and build ``mu (M1,d)``, ``nu (M2,d)``, ``vstar (V,d)``, ``vtest (V',d)``."""
    basis = haar_basis(cfg.d, rng)  # rows are orthonormal
    mu = cfg.beta * basis[: cfg.M1]
    nu = cfg.beta * basis[cfg.M1 : cfg.M1 + cfg.M2]
    vstar = basis[cfg.M1 + cfg.M2 : cfg.M1 + cfg.M2 + cfg.V].copy()
    orth = basis[cfg.M1 + cfg.M2 + cfg.V :].copy()
    coefs = np.asarray(cfg.test_coefs, dtype=np.float64)
    vtest = coefs @ vstar
    if cfg.test_orth > 0:
        vtest = vtest + cfg.test_orth * orth[np.arange(len(coefs)) % len(orth)]
    return Patterns(mu=mu, nu=nu, vstar=vstar, vtest=vtest, orth=orth)


def task_sets(M1: int, split: str = "matching") -> tuple[np.ndarray, np.ndarray]:
    """All ordered task pairs ``(M1(M1-1), 2)`` and the training split ``T_tr`` ``(n_tr, 2)`` (Section 3.2),
    computed once per ``(M1, split)`` and returned read-only (every training step asks for them).

    Every split holds each pair in both orders, so every pattern appears with both labels equally often.

    * ``matching`` (default): pairs ``(0,1), (2,3), ...``; for odd ``M1`` the last pattern is paired with 0.
      No two training pairs share a pattern (for even ``M1``), so the negative ``mu_a mu_b^T`` couplings that
      ``W_B^T W_C`` learns on training pairs never compose into couplings of an unseen pair.
    * ``ring``: pairs ``(j, j+1 mod M1)``.  Two-hop paths ``a - c - b`` make ``W_B^T W_C`` couple the unseen
      pair ``(a, b)`` *positively* (a product of two negative couplings), which flips predictions on unseen
      tasks; kept to show that effect (docs/outliers.md).
    * ``random``: each unordered pair kept with probability 1/2 (both orders), drawn once from a generator seeded
      by ``M1`` alone and redrawn until every pattern is covered: a split that satisfies the coverage condition and
      was not chosen for its result (patterns appear in different numbers of pairs; for ``M1 = 6``, 9 of 15 pairs).
    * ``all``: ``T_tr = T`` (no unseen tasks).
    """
    return _task_sets(int(M1), split)


@lru_cache(maxsize=64)
def _task_sets(M1: int, split: str) -> tuple[np.ndarray, np.ndarray]:
    all_tasks = np.array([(a, b) for a in range(M1) for b in range(M1) if a != b], dtype=np.int64)
    if split == "all":
        return _read_only(all_tasks), _read_only(all_tasks.copy())
    if split == "ring":
        edges = [(j, (j + 1) % M1) for j in range(M1)]
    elif split == "random":
        pairs = [(a, b) for a in range(M1) for b in range(a + 1, M1)]
        rng = np.random.default_rng([M1, 2510])
        while True:
            pick = rng.random(len(pairs)) < 0.5
            edges = [pr for pr, keep in zip(pairs, pick) if keep]
            if len({j for e in edges for j in e}) == M1:
                break
    else:
        edges = [(j, j + 1) for j in range(0, M1 - 1, 2)]
        if M1 % 2:
            edges.append((M1 - 1, 0))
    train: list[tuple[int, int]] = []
    for a, b in edges:
        for pair in ((a, b), (b, a)):
            if pair not in train:
                train.append(pair)
    return _read_only(all_tasks), _read_only(np.array(train, dtype=np.int64))


def _read_only(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _clean_draws(tasks: np.ndarray, n_nu: int, rng: np.random.Generator, B: int, l: int, K: float):
    """The random choices of ``B`` clean prompts of ``l`` examples + query, in the generator's fixed order: task
    ids ``t`` ``(B,)``, relevant-pattern ids ``j``, irrelevant-pattern ids ``k``, their scales ``kappa`` and labels
    ``y``, each ``(B, l+1)``."""
    t = rng.integers(len(tasks), size=B)
    a, b = tasks[t, 0], tasks[t, 1]
    pick_a = rng.random((B, l + 1)) < 0.5
    j = np.where(pick_a, a[:, None], b[:, None])
    k = rng.integers(n_nu, size=(B, l + 1))
    kappa = rng.uniform(-K, K, size=(B, l + 1))
    y = np.where(pick_a, 1.0, -1.0)
    return t, j, k, kappa, y


@njit(cache=True)
def _fill_prompts(mu, nu, out_dirs, j, k, kappa, amp, s, y, P):
    """Write the prompts ``P`` ``(B, l+1, d+1)``: ``x = mu_j + kappa nu_k``, plus ``amp * out_dirs[s]`` on the
    ``l`` context examples (``amp`` ``(B, l)`` is 0 where there is no outlier), then the labels ``y``
    ``(B, l+1)``, 0 at the query.  The same operations in the same order as the NumPy expressions
    ``mu[j] + kappa[..., None] * nu[k]`` and ``+= amp[..., None] * out_dirs[s]``, so bit for bit the same
    prompts, without the ``(B, l+1, d)`` temporaries."""
    B, lp1, dp1 = P.shape
    d = dp1 - 1
    l = lp1 - 1
    for b in range(B):
        for i in range(lp1):
            jj = j[b, i]
            kk = k[b, i]
            c = kappa[b, i]
            for q in range(d):
                P[b, i, q] = mu[jj, q] + c * nu[kk, q]
            if i < l:
                ss = s[b, i]
                am = amp[b, i]
                for q in range(d):
                    P[b, i, q] += am * out_dirs[ss, q]
                P[b, i, d] = y[b, i]
            else:
                P[b, i, d] = 0.0


def _assemble(pat: Patterns, out_dirs: np.ndarray, draws: tuple, amp: np.ndarray, s: np.ndarray,
              outlier: np.ndarray, seen: np.ndarray) -> PromptBatch:
    """The :class:`PromptBatch` of the draws of :func:`_clean_draws` with outliers ``amp * out_dirs[s]``."""
    t, j, k, kappa, y = draws
    B, lp1 = j.shape
    P = np.empty((B, lp1, pat.mu.shape[1] + 1))
    _fill_prompts(pat.mu, pat.nu, out_dirs, j, k, kappa, amp, s, y, P)
    z = y[:, -1].copy()
    same = j[:, :-1] == j[:, -1:]
    return PromptBatch(P=P, z=z, outlier=outlier, same=same, task=t, seen=seen)


def in_split(all_tasks: np.ndarray, train_tasks: np.ndarray) -> np.ndarray:
    """Whether each task of ``all_tasks`` ``(n_T, 2)`` belongs to the training split ``train_tasks``: ``(n_T,)``."""
    return (all_tasks[:, None, :] == train_tasks[None, :, :]).all(-1).any(-1)


def sample_train(cfg: OutlierConfig, pat: Patterns, rng: np.random.Generator, B: int | None = None,
                 tasks: str = "train") -> PromptBatch:
    """A batch of ``B`` (default ``cfg.batch``) training prompts of length ``l_tr`` over the tasks ``T_tr``
    (``tasks="train"``), or over all tasks ``T`` (``tasks="all"``: the prompts of Thm 1's eq. 10, training outliers
    at rate ``p_a``, whose expected hinge loss the theorem bounds)."""
    B = cfg.batch if B is None else B
    l = cfg.l_tr
    all_tasks, train_tasks = task_sets(cfg.M1, cfg.train_tasks)
    if tasks not in ("train", "all"):
        raise ValueError(f"tasks must be 'train' or 'all', got {tasks!r}")
    draws = _clean_draws(train_tasks if tasks == "train" else all_tasks, len(pat.nu), rng, B, l, cfg.K)
    y = draws[4]
    outlier = rng.random((B, l)) < cfg.p_a
    s = rng.integers(cfg.V, size=(B, l))
    rand_lab = np.where(rng.random((B, l)) < 0.5, 1.0, -1.0)
    y[:, :l] = np.where(outlier, rand_lab, y[:, :l])
    seen = np.ones(B, dtype=bool) if tasks == "train" else in_split(all_tasks, train_tasks)[draws[0]]
    return _assemble(pat, pat.vstar, draws, cfg.kappa_a * outlier, s, outlier, seen)


def outlier_positions(n: int, l: int, n_out, placement: str, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask ``(n, l)`` with ``n_out`` outliers per row (an int, or an ``(n,)`` array of per-row counts);
    position ``l-1`` is next to the query."""
    if np.ndim(n_out):
        counts = np.asarray(n_out)
        if placement == "R":
            ranks = np.argsort(np.argsort(rng.random((n, l)), axis=1), axis=1)  # a random rank per position
            return ranks < counts[:, None]
        pos = np.arange(l)[None, :]
        return pos < counts[:, None] if placement == "FQ" else pos >= l - counts[:, None]
    mask = np.zeros((n, l), dtype=bool)
    if n_out == 0:
        return mask
    if placement == "FQ":
        mask[:, :n_out] = True
    elif placement == "CQ":
        mask[:, l - n_out :] = True
    else:  # "R"
        order = np.argsort(rng.random((n, l)), axis=1)[:, :n_out]
        np.put_along_axis(mask, order, True, axis=1)
    return mask


def sample_test(
    cfg: OutlierConfig,
    pat: Patterns,
    rng: np.random.Generator,
    n: int | None = None,
    alpha: float | None = None,
    label_rule: str | None = None,
    placement: str | None = None,
    l: int | None = None,
) -> PromptBatch:
    """``n`` (default ``cfg.n_test``) test prompts over all tasks ``T`` with unseen outliers from ``V'``.

    ``alpha``, ``label_rule``, ``placement`` and ``l`` override the config (so one model can be evaluated on
    several test distributions).  Returns a :class:`PromptBatch` with ``P`` of shape ``(n, l+1, d+1)``.
    """
    n = cfg.n_test if n is None else n
    alpha = cfg.alpha if alpha is None else alpha
    rule = cfg.label_rule if label_rule is None else label_rule
    placement = cfg.placement if placement is None else placement
    l = cfg.l_ts if l is None else l
    all_tasks, train_tasks = task_sets(cfg.M1, cfg.train_tasks)
    draws = _clean_draws(all_tasks, len(pat.nu), rng, n, l, cfg.K_test)
    t, y = draws[0], draws[4]
    is_train = in_split(all_tasks, train_tasks)
    if cfg.outlier_count == "exact":
        n_out = int(np.floor(alpha * l + 0.5))
    else:  # per-example (Def. 2): each example independently, so the count is Binomial(l, alpha)
        n_out = rng.binomial(l, alpha, size=n)
    outlier = outlier_positions(n, l, n_out, placement, rng)
    s = rng.integers(len(pat.vtest), size=(n, l))
    if rule == "flip":
        new = -y[:, :l]
    elif rule == "targeted":
        new = np.full((n, l), float(cfg.target_label))
    else:
        new = np.where(rng.random((n, l)) < 0.5, 1.0, -1.0)
    y[:, :l] = np.where(outlier, new, y[:, :l])
    return _assemble(pat, pat.vtest, draws, cfg.kappa_a_test * outlier, s, outlier, is_train[t])


def seed_streams(seed: int) -> dict[str, np.random.Generator]:
    """Independent generators for patterns, initialisation, training batches and test sets, from one seed."""
    return _streams(seed, STREAMS)


def stack_point(B: int, l: int, d: int = 30, layers: int = 3, seed: int = 0) -> tuple:
    """A trained-looking point of a stack, for benchmarks and tests: ``(W_B, W_C, w, P, z)`` with Table 1's data
    (``p_a = 0.4``, ``B`` prompts of ``l`` examples) and the paper's initialisation of ``layers`` blocks, ``W_B``
    and ``W_C`` perturbed so that every block's gradient is non-trivial."""
    from .stack import init_stack_params

    small = dict(M1=2, M2=1, V=1) if d < 19 else {}  # tiny d (smoke runs): fewer patterns
    cfg = OutlierConfig(d=d, l_tr=l, l_ts=l, p_a=0.4, layers=layers, seed=seed, **small)
    streams = seed_streams(seed)
    pat = make_patterns(cfg, streams["patterns"])
    params = init_stack_params(cfg, streams["init"])
    rng = np.random.default_rng(seed)
    params.W_B += 0.02 * rng.standard_normal(params.W_B.shape)
    params.W_C += 0.02 * rng.standard_normal(params.W_C.shape)
    batch = sample_train(cfg, pat, streams["train"], B)
    return params.W_B, params.W_C, params.w, batch.P, batch.z
