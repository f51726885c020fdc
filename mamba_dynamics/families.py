"""The one model vocabulary of the package: every ``--model`` name, the family (paper package) it belongs to, and
what each family offers the entry points (simulate, phase diagrams, gradient checks).

Each family defines its own model names once, in its ``config.MODELS`` (name -> description); this module
collects them (:func:`models`) and maps every name to its family, so ``scripts/simulate.py``,
``scripts/phase_diagram.py`` and ``scripts/check_gradients.py`` all accept the same names.  Listing the names
reads only the families' light ``config`` modules; a family's models, kernels and plotting are imported when an
entry point asks for that family.

====================== ============== =====================================================================
model                  family         what it is
====================== ============== =====================================================================
mamba                  outliers       one-layer Mamba, eq. 3 of arXiv 2510.00399
lt                     outliers       linear Transformer (gate G == 1), arXiv 2510.00399
st                     outliers       softmax Transformer (eq. 3 with softmax weights), App. B.1
mamba2                 outliers       Mamba-2's gate in eq. 3 (input Delta, decay exp(-Delta)), App. E.6
gret                   outliers       gated retention's gate in eq. 3 (decay sigmoid^(1/tau)), App. E.6
retnet                 outliers       RetNet's fixed decay in eq. 3, App. E.6
gla                    outliers       gated linear attention (vector gate) in eq. 3, App. E.6
ssm                    features       selective SSM + two-layer MLP, arXiv 2602.12499
lt-mlp                 features       causal linear attention + two-layer MLP, arXiv 2602.12499
st-mlp                 features       causal softmax attention + two-layer MLP (Fig. 6's Transformer)
mamba-single-index     single_index   gated Mamba readout + MLP, Algorithm 1 of arXiv 2510.12026
la-single-index        single_index   linear-attention readout (G = 1/N) + MLP, arXiv 2510.12026
mamba-single-index-e2e single_index   one-layer Mamba + MLP trained end to end (Adam), arXiv 2510.12026
la-single-index-e2e    single_index   linear attention + MLP trained end to end (Adam), arXiv 2510.12026
st-single-index-e2e    single_index   softmax attention + MLP trained end to end (Adam), arXiv 2510.12026
====================== ============== =====================================================================
"""

from __future__ import annotations

import importlib

#: Family (sub-package) names, in the order of the papers' arrival.
FAMILIES = ("outliers", "features", "single_index")


def module(family: str, role: str):
    """The module ``mamba_dynamics.<family>.<role>`` (e.g. ``("features", "cli")``)."""
    if family not in FAMILIES:
        raise KeyError(f"unknown family {family!r}")
    return importlib.import_module(f"mamba_dynamics.{family}.{role}")


def models() -> dict[str, tuple[str, str]]:
    """Every model name -> ``(family, description)``, in family order."""
    out = {}
    for fam in FAMILIES:
        for name, text in module(fam, "config").MODELS.items():
            out[name] = (fam, text)
    return out


def family_of(model: str) -> str:
    """The family of a model name; ``KeyError`` for an unknown name."""
    return models()[model][0]


def model_fields(model: str) -> dict:
    """The config fields that select ``model`` within its family: ``{"model": name}`` for outliers and features,
    ``{"gate": ...}`` for single_index (whose config names the gate, not the model)."""
    fam = family_of(model)
    if fam == "single_index":
        return {"gate": module(fam, "config").GATE[model]}
    return {"model": model}


def sweep_entry(model: str) -> tuple:
    """``(add_arguments, config_from_args, sweep)`` the phase diagram uses for ``model``: the family's flags,
    config and :class:`~mamba_dynamics.core.sweeps.SweepFamily`, unless the family's ``cli.sweep_entry(model)``
    names model-specific ones (the single-index networks trained end to end)."""
    fam = family_of(model)
    cli = module(fam, "cli")
    special = cli.sweep_entry(model) if hasattr(cli, "sweep_entry") else None
    return special or (cli.add_arguments, cli.config_from_args, module(fam, "experiments").SWEEP)


def gradient_specs(register: bool = True) -> dict:
    """Every family's gradient-check specs by model name; registered with :mod:`mamba_dynamics.core.gradcheck`
    unless ``register=False``."""
    from .core.gradcheck import register as add

    specs = {spec.name: spec for fam in FAMILIES for spec in module(fam, "symbolic").gradient_specs()}
    if register:
        for spec in specs.values():
            add(spec)
    return specs

