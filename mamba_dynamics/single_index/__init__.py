"""Test-time feature learning of single-index targets by a gated Mamba readout (Oh, Huang, Suzuki,
arXiv 2510.12026).  See docs/single_index.md for the completed spec and every choice made.

Modules (the same roles in every family): ``config``, ``data`` (prompts and the Hermite embedding), ``model``
(gated readout + MLP), ``gradients`` (the Stage-I gradient), ``train`` (two-stage pretraining, Algorithm 1),
``metrics``, ``theory``, ``experiments`` (risk curves, resumable cells, the sweep adapter), ``plotting``, ``cli``,
``symbolic`` (sympy derivation and gradient-check specs); plus ``hermite`` (links and their exponents) and
``baselines`` (kernel ridge regression).  Imports only :mod:`mamba_dynamics.core` and itself.
"""
