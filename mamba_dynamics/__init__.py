"""mamba_dynamics: exact simulators of the training dynamics proved for one-layer Mamba / selective-SSM models.

The package is one shared core and one package per paper (docs/architecture.md):

- :mod:`mamba_dynamics.core`          what every model shares (gating, raw scan, losses, config base, training
  loop, io, parallel, progress, resumable cells, sweeps, plotting helpers, gradient-check registry, CLI plumbing)
- :mod:`mamba_dynamics.outliers`      outlier-robust ICL, Mamba vs linear Transformer (arXiv 2510.00399)
- :mod:`mamba_dynamics.features`      feature filtering by a selective SSM + MLP (arXiv 2602.12499)
- :mod:`mamba_dynamics.single_index`  test-time feature learning of single-index targets (arXiv 2510.12026)
- :mod:`mamba_dynamics.families`      the one model vocabulary: every ``--model`` name, its family and package

A paper package imports only ``core`` and itself; only :mod:`mamba_dynamics.families` (and the scripts) see all
of them.
"""

__version__ = "0.3.0"
