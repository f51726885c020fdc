"""What every model family shares, and nothing paper-specific.

=============== =====================================================================================
module          job
=============== =====================================================================================
``gating``      log-space selective gate ``G_i(w)`` of eq. (3) (O(l), NumPy and Numba) + its O(l^2) reference
``scan``        the raw selective-scan recurrence (eq. 1), the naive reference of every gated readout
``losses``      hinge loss and its slope, 0-1 error, squared loss
``config``      frozen-config base: one ``ConfigError``, validation helpers, ``replace`` / ``to_dict``
``seeds``       named independent random streams from one seed; Haar-random bases
``train``       the one SGD/GD loop (logging, divergence guard, Ctrl-C, progress) and ``TrainResult``
``optim``       SGD and Adam steps on named parameter blocks (a few lines, no framework)
``io``          atomic ``.npz`` + JSON-sidecar writing with run metadata
``blas``        which BLAS kernels and threads NumPy/SciPy run (recorded in sidecars and benchmark headers)
``parallel``    worker processes with one BLAS/Numba thread each
``progress``    tqdm bars on a terminal, silent otherwise
``cells``       one resumable store of keyed cells (sweeps and reproductions)
``sweeps``      two-axis sweeps for any family (``SweepFamily`` adapter), local or on Dask, resumable
``plotting``    saving figures, mean +- std bands, phase-diagram heatmaps with theory boundaries
``gradcheck``   gradient-check registry: kernel vs reference vs finite differences vs sympy
``cli``         flags from a family's table, one-line errors (exit 2), grids, output folders, tables
=============== =====================================================================================

A module here imports only the standard library, NumPy/Numba/matplotlib and other ``core`` modules.
"""
