"""mamba_dynamics: exact simulators of the training dynamics proved for one-layer Mamba / selective-SSM models.

Sub-modules, one job each (outlier-ICL paper, arXiv 2510.00399):

- :mod:`mamba_dynamics.config`    frozen, validated configuration (every symbol of the spec is a field)
- :mod:`mamba_dynamics.data`      exact data generator of Section 3.2 (patterns, tasks, prompts, outliers)
- :mod:`mamba_dynamics.gating`    log-space selective gate ``G_i(w)`` (shared by every gated model)
- :mod:`mamba_dynamics.models`    forward pass of Mamba (eq. 3) and of the linear Transformer (``G == 1``)
- :mod:`mamba_dynamics.recurrence` the raw selective-scan recurrence (eq. 1), the ground truth of eq. 3
- :mod:`mamba_dynamics.gradients` hand-derived hinge-loss gradients: Numba kernel + NumPy reference
- :mod:`mamba_dynamics.training`  SGD of Algorithm 1 with logging and a divergence guard
- :mod:`mamba_dynamics.metrics`   tracked quantities (test error, attention concentration, gate values, norms)
- :mod:`mamba_dynamics.theory`    predictions of Theorems 1-4 and Corollaries 1-2
- :mod:`mamba_dynamics.io`        atomic ``.npz`` + JSON-sidecar writing with run metadata
- :mod:`mamba_dynamics.plotting`  figures
"""

__version__ = "0.1.0"
