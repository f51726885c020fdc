"""Test-time feature learning of single-index targets by a gated Mamba readout (Oh, Huang, Suzuki,
arXiv 2510.12026).  See docs/single_index.md for the completed spec and every choice made.

Modules (the same roles in every family): ``config``, ``data`` (prompts and the Hermite embedding), ``model``
(gated readout + MLP), ``gradients`` (the Stage-I gradient), ``train`` (two-stage pretraining, Algorithm 1),
``metrics``, ``theory``, ``experiments`` (risk curves, resumable cells, the sweep adapter), ``plotting``, ``cli``,
``symbolic`` (sympy derivation and gradient-check specs), ``memory`` (a run's peak memory from its config); plus ``hermite`` (links and their exponents) and
``baselines`` (kernel ridge regression), and the networks trained end to end (the paper's experiment):
``network`` (the one-layer scan with every weight trainable; Numba context passes beside NumPy references),
``network_gradients`` (their hand-derived gradients) and ``network_train`` (Adam training, tracked quantities,
risk vs N).  Imports only :mod:`mamba_dynamics.core` and itself.
"""
