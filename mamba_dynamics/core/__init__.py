"""What every model family shares, and nothing paper-specific.

Numerics (the mathematics of the mixers and their gradients; each fast kernel with its naive reference beside it):

=============== ==================================================================== =============================
module          job                                                                  naive reference
=============== ==================================================================== =============================
``gating``      log-space selective gate ``G_i(w)`` of eq. (3), O(l), NumPy and       ``log_gates_naive`` (O(l^2))
                Numba; the one-exp sigmoid pairs every kernel inlines
``gates``       App. E.6's gate family (Mamba, Mamba-2, gated retention, RetNet,       ``log_gates_naive``,
                none; GLA's vector gate): input coefficient x decays, log-slopes,      ``vector_log_gates_naive``
                NumPy, Numba and sympy
``scan``        the raw selective-scan recurrence (eq. 1), NumPy and sympy            (it is the reference)
``mixer``       one selective (or linear-attention) block as a sequence map and its   ``mix_forward_reference``,
                adjoint: Numba scans (M1, M3-M4) and the pairwise form (M2)           ``mix_adjoint_reference``
``gla_mixer``   GLA's block (a decay per key coordinate) as a sequence map and its     ``gla_mix_forward_reference``,
                adjoint: Numba scans (V1, V3-V4)                                      ``gla_mix_adjoint_reference``
``attention``   causal softmax attention (temperature, window, heads) as a sequence   ``softmax_forward_reference``,
                map and its adjoint (Numba): pairs form for short sequences, rows     ``softmax_adjoint_reference``
                from the log-sum-exp (O(T) memory) for long ones
``stack``       residual stacks of mixer blocks (RMSNorm), forward and backward;      ``stack_forward`` /
                each block in its cheapest form; one adjoint per form                 ``stack_backward``, ``fast=False``
``simd``        fixed-order SIMD building blocks (dot products, ``gemm`` / ``bmm``,    ``dot_reference``,
                a vectorisable ``exp`` and ``log1p``); the plain-Numba fallback       ``gemm_reference``, ...
``simd_ir``     the same blocks as LLVM vector IR (Numba intrinsics, register         the fallback in ``simd``
                tiles): the fast implementation
``simd_width``  the lanes of the ``gemm`` tiles on this machine (AVX-512: 8, else 4)  (a constant)
``losses``      hinge loss and slope, 0-1 error, squared loss, ``LossGrad``,          (closed forms)
                the mean over chunks
``optim``       SGD and Adam steps on named parameter blocks                         (a few lines)
``gradcheck``   kernel vs reference vs finite differences vs sympy, per model        (it is the check)
=============== ==================================================================== =============================

Plumbing (how models are built, trained, run, saved and swept):

=============== =====================================================================================
module          job
=============== =====================================================================================
``model``       the one model interface (``Model``: ``init_params``, ``trained``, ``loss_and_grad``,
                ``predict``) and each family's ``Registry`` (one layer or stack, chosen once)
``train``       the one training loop (``fit``), its log (``Tracker``), divergence guard and ``TrainResult``
``workspace``   scratch arrays reused from call to call, owned by a model object or the caller
``config``      frozen-config base: one ``ConfigError``, validation helpers, ``replace`` / ``to_dict``
``seeds``       named independent random streams from one seed; Haar-random bases
``io``          atomic ``.npz`` + JSON-sidecar writing with run metadata
``blas``        which BLAS kernels and threads NumPy/SciPy run (sidecars, benchmark headers)
``parallel``    worker processes with one BLAS/Numba thread each
``progress``    tqdm bars on a terminal, silent otherwise
``resources``   a run's estimated peak memory and work against the limit (``--max-memory``): one-line refusal
``cells``       one resumable store of keyed cells (sweeps and reproductions)
``sweeps``      two-axis sweeps for any family (``SweepFamily`` adapter), local or on Dask, resumable
``plotting``    saving figures, mean +- std bands, phase-diagram heatmaps with theory boundaries, power-law panels
``fits``        power-law fits of measured scalings with confidence intervals, and their verdicts
``cli``         flags from a family's table, one-line errors (exit 2), grids, output folders, tables
=============== =====================================================================================

A module here imports only the standard library, NumPy/SciPy/Numba/matplotlib and other ``core`` modules.
"""
