"""Outlier-robust in-context learning: one-layer Mamba (eq. 3) vs the linear Transformer on binary ICL prompts with
outliers (Li et al., arXiv 2510.00399).  See docs/outliers.md.

Modules (the same roles in every family): ``config``, ``data``, ``model``, ``gradients``, ``train``, ``metrics``,
``theory``, ``experiments`` (reproductions + the sweep adapter), ``plotting``, ``cli``, ``symbolic`` (sympy
derivation and gradient-check specs), ``memory`` (a run's peak memory from its config).
Imports only :mod:`mamba_dynamics.core` and itself.
"""
