"""Feature filtering by a selective SSM: selective SSM (and causal linear attention) + two-layer MLP on
majority-voting and local-concentration sequences (Shandirasegaran et al., arXiv 2602.12499).  See docs/features.md.

Modules (the same roles in every family): ``config``, ``data``, ``model``, ``gradients``, ``train``, ``metrics``,
``theory``, ``experiments`` (reproductions + the sweep adapter), ``plotting``, ``cli``, ``symbolic`` (sympy
derivation and gradient-check specs), ``memory`` (a run's peak memory from its config).
Imports only :mod:`mamba_dynamics.core` and itself.
"""
