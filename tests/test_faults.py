"""Fault tests, one per family and per resumable sweep or reproduction: kill -9 in the middle, rerun the same
command, and the final arrays equal those of an uninterrupted run bit for bit (atomic writes, resumable cells).

Each command runs in its own process group so the kill takes its workers too.  (fig3 and the placement study store
their training runs through the same function as fig2, ``outliers.experiments.train_many``.)  The outlier phase diagram's kill
test is ``tests/core/test_sweeps.py::test_resume_after_kill_gives_identical_dataset``.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

SIM = "simulate.py"
#: (id, script, args, final arrays file, what must exist before the kill: a glob under the output folder)
CASES = [
    ("simulate-outliers", SIM, ["--model", "mamba", "--steps", "500", "--log-every", "100", "--n-test", "200"],
     "results.npz", None),
    ("simulate-features", SIM, ["--model", "ssm", "--regime", "locality", "--steps", "150", "--n-train", "300",
                                "--n-test", "300", "--log-every", "10"], "results.npz", None),
    ("simulate-single-index", SIM, ["--model", "mamba-single-index", "--d", "8", "--r", "2", "--T1", "4000",
                                    "--T2", "800", "--n-test", "100", "--test-N", "64,256,1024"], "results.npz", None),
    ("fig2", "fig2_error_vs_alpha.py", ["--seeds", "2", "--steps", "150", "--n-eval", "100", "--alphas", "0.5"],
     "fig2.npz", "cells/*.pkl"),
    ("features-scaling", "features_scaling.py", ["--quick", "--seeds", "1", "--only", "majority_L"],
     "scaling.npz", "cells/*.npz"),
    ("phase-features", "phase_diagram.py", ["--model", "ssm", "--x", "alpha_r", "--x-values", "0.3,0.4,0.5", "--y",
                                            "L", "--y-values", "10", "--steps", "30", "--n-train", "200",
                                            "--seeds", "1", "--n-eval", "100"], "phase.npz", "cells/*.json"),
    ("phase-single-index", "phase_diagram.py", ["--model", "mamba-single-index", "--x", "d", "--x-values", "4,6,8",
                                                "--y", "r", "--y-values", "1,2", "--T1", "1500", "--T2", "300",
                                                "--N-pt", "64", "--width", "32", "--seeds", "1", "--n-eval", "100"],
     "phase.npz", "cells/*.json"),
    ("single-index-gates", "single_index_gates.py", ["--links", "h2", "--d", "4", "--r", "2", "--test-N", "128,256",
                                                     "--seeds", "2", "--T2", "100", "--n-test", "20"],
     "gates.npz", "cells/*.npz"),
    ("single-index-risk", "single_index_risk.py", ["--dims", "6", "--r", "2", "--T1", "1000", "--T2", "200",
                                                   "--n-test", "30", "--test-N", "32,128", "--krr-prompts", "4",
                                                   "--seeds", "1"], "risk_vs_N.npz", "cells/*.npz"),
    ("single-index-e2e", "single_index_e2e.py", ["--links", "h2", "--dims", "4", "--r", "2", "--seeds", "2",
                                                 "--steps", "300", "--N-max", "32", "--state", "8", "--width", "16",
                                                 "--test-N", "8,32", "--n-test", "30", "--test-queries", "16",
                                                 "--krr-prompts", "4"], "e2e.npz", "cells/*.npz"),
]


def command(root, script, args, out):
    extra = [] if script == SIM else ["--jobs", "1"]
    return [sys.executable, str(root / "scripts" / script), *args, *extra, "--no-plot" if script == SIM else "--quiet",
            "--quiet", "--out", str(out)]


def arrays(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("name, script, args, final, progress", CASES, ids=[c[0] for c in CASES])
def test_kill_9_then_rerun_gives_the_uninterrupted_arrays(root, tmp_path, name, script, args, final, progress):
    full, killed = tmp_path / "full", tmp_path / "killed"
    t0 = time.perf_counter()
    res = subprocess.run(command(root, script, args, full), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    t_full = time.perf_counter() - t0

    # a single run is killed well into its run; the first run's time may include compiling its Numba kernels
    # (cached by now) or a slow phase of the machine, so a run that finished before the kill is started again
    # and killed sooner
    for fraction in ((0.6, 0.35, 0.2, 0.1) if progress is None else (None,)):
        proc = subprocess.Popen(command(root, script, args, killed), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 120
        if progress is None:
            time.sleep(fraction * t_full)
        else:  # a resumable sweep: kill once some, not all, of its cells are saved
            while time.time() < deadline and len(list(killed.glob(progress))) < 1:
                time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if not (killed / final).exists():
            break
        shutil.rmtree(killed)
    assert not (killed / final).exists(), f"{name}: finished before the kill; make the case longer"
    if progress is not None:
        n_done = len(list(killed.glob(progress)))
        assert n_done < len(list(full.glob(progress))), n_done

    res = subprocess.run(command(root, script, args, killed), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    a, b = arrays(full / final), arrays(killed / final)
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=f"{name}: {k}")
    leftovers = [p.name for p in killed.rglob("*.tmp")]
    assert all(p.startswith(".") for p in leftovers)  # at most a hidden temp file of the killed write
