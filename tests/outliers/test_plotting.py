"""Every figure renders (PNG, optional PDF) from small inputs."""

import numpy as np

from mamba_dynamics.core.plotting import save_figure
from mamba_dynamics.outliers import plotting
from mamba_dynamics.outliers.config import OutlierConfig
from mamba_dynamics.outliers.train import train


def test_all_figures_render(tmp_path):
    run = train(OutlierConfig(steps=20, log_every=10, n_test=100))
    written = save_figure(plotting.plot_run(run), tmp_path / "run.png", pdf=True)
    assert [p.suffix for p in written] == [".png", ".pdf"]
    alphas = [0.0, 0.5, 0.9]
    errs = {m: {r: np.random.default_rng(0).random((2, 3)) for r in ("flip", "random")} for m in ("mamba", "lt")}
    save_figure(plotting.plot_error_vs_alpha(alphas, errs, ["flip", "random"], 0.6, 20, 20, "t"),
                         tmp_path / "fig2.png")
    sums = {m: tuple(np.random.default_rng(1).standard_normal((2, 4)) for _ in range(3)) for m in ("mamba", "lt")}
    save_figure(plotting.plot_attention_history(np.arange(4), sums, "t"), tmp_path / "fig3.png")
    g = np.array([0.1, 1e-4, 0.2, 0.3])
    save_figure(plotting.plot_gates(g, np.array([0, 1, 0, 0], bool), np.array([0.3, 0.2, 0.1, np.nan]),
                                             np.array([5, 5, 5, 0]), "t"), tmp_path / "fig4.png")
    save_figure(plotting.plot_placement(["R", "FQ", "CQ"], [0.3, 0.7],
                                                 {"mamba": np.zeros((2, 3, 2)), "lt": np.ones((2, 3, 2))}, "t"),
                         tmp_path / "placement.png")
    for name in ("run", "fig2", "fig3", "fig4", "placement"):
        assert (tmp_path / f"{name}.png").stat().st_size > 5000
