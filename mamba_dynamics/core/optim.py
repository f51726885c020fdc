"""First-order optimisers on named parameter blocks, a few lines each (no framework): plain SGD and Adam.

Adam (Kingma & Ba 2015) with bias correction, in float64:

    m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2,   theta <- theta - lr (m / (1 - b1^k)) / (sqrt(v / (1 - b2^k)) + eps)

and, with ``weight_decay > 0``, the decoupled decay ``theta <- theta - lr wd theta`` of AdamW.

Glossary: ``params`` = dict block name -> array, updated in place; ``grads`` = the same keys; ``k`` = step count.
"""

from __future__ import annotations

import numpy as np

OPTIMIZERS = ("adam", "sgd")


class Optimizer:
    """``step(params, grads)`` updates ``params`` in place.  ``kind`` is ``"adam"`` or ``"sgd"``."""

    def __init__(self, kind: str, lr: float, weight_decay: float = 0.0, betas=(0.9, 0.999), eps: float = 1e-8):
        if kind not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {kind!r}; choose one of {', '.join(OPTIMIZERS)}")
        self.kind, self.lr, self.wd, self.betas, self.eps = kind, lr, weight_decay, betas, eps
        self.k = 0
        self.m: dict = {}
        self.v: dict = {}

    def step(self, params: dict, grads: dict) -> None:
        self.k += 1
        b1, b2 = self.betas
        for name, p in params.items():
            g = grads[name]
            if self.wd:
                p *= 1.0 - self.lr * self.wd
            if self.kind == "sgd":
                p -= self.lr * g
                continue
            m = self.m.setdefault(name, np.zeros_like(p))
            v = self.v.setdefault(name, np.zeros_like(p))
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * g * g
            p -= self.lr * (m / (1.0 - b1**self.k)) / (np.sqrt(v / (1.0 - b2**self.k)) + self.eps)


__all__ = ("OPTIMIZERS", "Optimizer")
