#!/usr/bin/env python
"""Compare symbolic and numeric gradients for every registered model.

    python scripts/check_gradients.py                 # all models
    python scripts/check_gradients.py --model mamba --seed 3

For each model and parameter block: max abs and relative error of the Numba kernel vs the NumPy reference vs
central finite differences vs sympy's derivative of the model's recurrence.  Exit status 1 if any comparison
exceeds its tolerance (1e-10 exact, 1e-6 finite differences), 2 on bad input.  The same check runs from an
installed package as ``python -m mamba_dynamics.check_gradients``.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401

from mamba_dynamics.check_gradients import main

if __name__ == "__main__":
    raise SystemExit(main())
