"""The one model interface: every model of every family looks the same from outside.

A model is an object built once from its family's config (:meth:`Registry.build`): whether it is one layer or a
stack of ``L`` blocks is decided there, once, and is a property of the object, not a branch in its callers.  It
holds no parameters (they are passed in, as :class:`~mamba_dynamics.core.train.ParamBlocks`) but owns its scratch
memory (:meth:`Model.scratch`), so two models used in one process never share arrays.

Every model answers the same four questions:

======================================  =========================================================================
method                                  meaning
======================================  =========================================================================
``init_params(rng)``                    the paper's initialisation, a family ``ParamBlocks`` container
``trained``                             the names of the blocks an optimiser updates (the rest stay fixed)
``loss_and_grad(params, batch)``        ``LossGrad(loss, grads, F)``: the hand-derived Numba gradients;
                                        ``reference=True``: the plain NumPy reference of the same quantities
``predict(params, inputs)``             the outputs ``F`` (``reference=True``: the NumPy reference)
======================================  =========================================================================

plus ``params_from(arrays)`` (a container from a dict of blocks: how the gradient checker builds its points) and,
for training, ``tracked(params, evaluation)`` (the quantities the proofs track; the family's ``metrics``).  The
training loop (:func:`mamba_dynamics.core.train.fit`) and the gradient checker
(:func:`mamba_dynamics.core.gradcheck.model_spec`) see nothing else.  A new mixer is one subclass plus its
kernels, registered once with its family's :class:`Registry`.

Glossary: ``batch`` = the family's record of one step's data (``PromptBatch`` ``(P (B, l+1, d+1), z (B,))``,
``Sequences`` ``(X (N, L, d), y (N,))``, ``NetworkBatch`` / ``ReadoutBatch``); ``inputs`` = the part of a batch
the model reads to predict.
"""

from __future__ import annotations

from typing import Callable, ClassVar

import numpy as np

from .losses import LossGrad
from .workspace import Workspace


class Model:
    """Base class of every model (see the module docstring).  Subclasses set :attr:`Params` and implement
    :meth:`init_params`, :meth:`loss_and_grad`, :meth:`predict`, and override :attr:`trained` where some blocks
    stay fixed."""

    #: the family's parameter container (a dataclass of arrays with :class:`~mamba_dynamics.core.train.ParamBlocks`)
    Params: ClassVar[type]
    #: BLAS threads the training loop runs this model under (None: leave the process's setting)
    blas_threads: ClassVar[int | None] = None

    def __init__(self, cfg):
        self.cfg = cfg
        self._scratch: dict = {}

    # ------------------------------------------------------------------ what every model answers

    def init_params(self, rng: np.random.Generator):
        """The initial parameters (the paper's initialisation) drawn from ``rng``."""
        raise NotImplementedError

    @property
    def trained(self) -> tuple:
        """Names of the parameter blocks the optimiser updates (default: every block of :attr:`Params`)."""
        return tuple(self.Params.__dataclass_fields__)

    def loss_and_grad(self, params, batch, *, reference: bool = False) -> LossGrad:
        """Loss, gradients by block name and outputs ``F`` on ``batch``; ``reference=True`` runs the plain NumPy
        reference instead of the Numba kernels (the same quantities, checked equal)."""
        raise NotImplementedError

    def predict(self, params, inputs, *, reference: bool = False) -> np.ndarray:
        """The model's outputs on ``inputs``."""
        raise NotImplementedError

    def params_from(self, arrays: dict):
        """A parameter container from ``{block: array}`` (the gradient checker's points)."""
        return self.Params(**arrays)

    # ------------------------------------------------------------------ plumbing

    @property
    def label(self) -> str:
        """How the model is named in progress bars and tables (e.g. ``3-block mamba``)."""
        layers = getattr(self.cfg, "layers", 1)
        name = getattr(self.cfg, "model", type(self).__name__)
        return name if layers == 1 else f"{layers}-block {name}"

    def scratch(self, name: str = "step", rows: bool = False) -> Workspace:
        """This model's workspace ``name`` (made on first use): scratch arrays the model's kernels reuse from call
        to call.  Owned by the object, so models never overwrite each other's arrays."""
        work = self._scratch.get(name)
        if work is None:
            work = self._scratch[name] = Workspace(rows=rows)
        return work

    def __getstate__(self):  # scratch arrays are not part of a model's identity (pickled to worker processes)
        state = dict(self.__dict__)
        state["_scratch"] = {}
        return state

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label})"


class Registry:
    """A family's models by name.  ``@REGISTRY.register("mamba", "lt")`` on a class; :meth:`build` turns a config
    into a model object, and is the one place where ``layers > 1`` picks a class's stacked form
    (:attr:`stacked`, set with ``register(..., stacked=StackClass)``)."""

    def __init__(self, family: str, key: Callable = lambda cfg: cfg.model):
        self.family = family
        self.key = key
        self._one: dict = {}
        self._stack: dict = {}

    def register(self, *names: str, stacked: type | None = None):
        """Class decorator: the class serves the model ``names`` (one layer); ``stacked`` serves them with
        ``layers > 1``."""
        def add(cls):
            for name in names:
                self._one[name] = cls
                if stacked is not None:
                    self._stack[name] = stacked
            return cls

        return add

    def names(self) -> tuple:
        return tuple(self._one)

    def model_class(self, cfg) -> type:
        """The class :meth:`build` instantiates for ``cfg``."""
        name = self.key(cfg)
        if name not in self._one:
            raise KeyError(f"unknown {self.family} model {name!r}; choose one of {', '.join(self._one)}")
        if getattr(cfg, "layers", 1) > 1:
            if name not in self._stack:
                raise ValueError(f"{name} has no stacked form (layers = {cfg.layers})")
            return self._stack[name]
        return self._one[name]

    def build(self, cfg) -> Model:
        """The model object for ``cfg``."""
        return self.model_class(cfg)(cfg)


__all__ = ("Model", "Registry")
