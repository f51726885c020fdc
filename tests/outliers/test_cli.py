"""Command line: bad input -> one-line error and exit 2; a run writes its arrays, sidecar and figure."""

import json
import subprocess
import sys

import numpy as np
import pytest


def run(root, *args, timeout=300):
    return subprocess.run([sys.executable, str(root / "scripts" / "simulate.py"), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=root)


@pytest.mark.parametrize("args, needle", [
    (["--d", "-3"], "d must be a positive integer"),
    (["--outlier-frac", "1.5"], "alpha (test outlier fraction) must lie in [0, 1]"),
    (["--train-outlier-frac", "-0.1"], "p_a (train outlier fraction) must lie in [0, 1)"),
    (["--d", "10"], "patterns do not fit in d"),
    (["--model", "transformer"], "unknown model 'transformer'"),
    (["--batch", "abc"], "invalid int value"),
    (["--label-rule", "sideways"], "unknown label rule"),
    (["--placement", "XQ"], "unknown placement"),
    (["--steps", "-1"], "steps must be a non-negative integer"),
    (["--K", "0.9"], "K must lie in [0, 1/2]"),
    (["--kappa-a-test", "1.0"], "kappa_a_test must be >="),
    (["--bogus"], "unrecognized arguments"),
])
def test_bad_input_is_one_line_exit_2(args, needle, cli_error):
    from simulate import main

    line = cli_error(main, args)
    assert line.startswith("simulate.py: error:") and needle in line


def test_bad_input_from_a_real_process(root):
    """The same contract through a separate interpreter (exit status as a shell sees it)."""
    res = run(root, "--d", "-3")
    assert res.returncode == 2 and res.stderr.strip() == "simulate.py: error: d must be a positive integer, got -3"


@pytest.mark.parametrize("script", ["fig2_error_vs_alpha.py", "fig3_attention.py", "fig4_gates.py",
                                    "placement_study.py"])
def test_reproduction_scripts_reject_bad_input(script, cli_error):
    assert "M1 must be" in cli_error(__import__(script[:-3]).main, ["--M1", "0"])


def test_simulate_writes_results(root, tmp_path):
    out = tmp_path / "run"
    res = run(root, "--model", "mamba", "--steps", "60", "--log-every", "20", "--n-test", "200", "--out", str(out),
              "--quiet", "--pdf")
    assert res.returncode == 0, res.stderr
    assert "test error, alpha=0.4" in res.stdout
    side = json.loads((out / "results.json").read_text())
    assert side["status"] == "completed" and side["seed"] == 0 and side["config"]["steps"] == 60
    cfg = side["config"]  # the default is the paper's text read plainly (issue 18)
    assert cfg["preset"] == "plain" and cfg["kappa_a_test"] == cfg["kappa_a"] and cfg["K_test"] > 1
    assert cfg["outlier_count"] == "per-example" and cfg["train_tasks"] == "random"
    assert any(c["condition"].startswith("Thm 2(c): alpha") and c["holds"] for c in side["theory"]["conditions"])
    assert [c["check"][:8] for c in side["theory"]["trained_checks"]] == ["Cor 1: s", "Cor 1: o", "Cor 2(i)", "Cor 2(ii"]
    assert "trained-model checks that fail" in res.stdout
    assert side["wall_time_s"] > 0 and "versions" in side["metadata"]
    with np.load(out / "results.npz") as z:
        assert z["hist_step"].tolist() == [0, 20, 40, 60]
    assert (out / "tracked.png").stat().st_size > 10_000 and (out / "tracked.pdf").exists()
    assert res.stderr == ""  # quiet and not a terminal: no progress bar


def test_divergence_exit_1_keeps_results(root, tmp_path):
    out = tmp_path / "div"
    res = run(root, "--eta", "1e8", "--steps", "100", "--log-every", "5", "--n-test", "100", "--out", str(out))
    assert res.returncode == 1
    assert "diverged at step" in res.stderr and "Traceback" not in res.stderr
    side = json.loads((out / "results.json").read_text())
    assert side["status"] == "diverged" and "diverged at step" in side["message"]


def test_same_command_same_numbers(root, tmp_path):
    outs = []
    for name in ("a", "b"):
        res = run(root, "--steps", "40", "--log-every", "20", "--n-test", "100", "--no-plot", "--out",
                  str(tmp_path / name))
        assert res.returncode == 0
        with np.load(tmp_path / name / "results.npz") as z:
            outs.append({k: z[k] for k in z.files})
    for k in outs[0]:
        np.testing.assert_array_equal(outs[0][k], outs[1][k])


@pytest.mark.parametrize("script", ["fig2_error_vs_alpha.py", "placement_study.py"])
def test_alpha_grids_must_be_fractions(script, cli_error):
    line = cli_error(__import__(script[:-3]).main, ["--alphas", "0.5,1.5"])
    assert "must be a non-empty list of fractions in [0, 1]" in line
