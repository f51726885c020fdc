"""CLI fuzzing: every value-taking flag of every entry point (each family's simulate and phase diagram, every script
in scripts/ and benchmarks/) gets values it must refuse; each must end with exit status 2, one line on stderr, no
traceback and no file written.  Unusable output folders are refused the same way before any work starts.

The flags are read from each entry point's own ``--help``, so a new flag is fuzzed without editing this file.
Everything runs in-process (parsing and validation only), so the whole table takes a few seconds.
"""

import importlib
import re
import sys

import pytest

from mamba_dynamics import families

ROOT_SCRIPTS = ["fig2_error_vs_alpha", "fig3_attention", "fig4_gates", "placement_study", "phase_compare", "outliers_scaling",
                "outlier_sensitivity", "outliers_table1", "gated_family", "features_alignment", "features_scaling",
                "features_paper", "features_table3", "features_gates", "single_index_risk", "single_index_gates",
                "single_index_e2e"]
#: Axes that are valid for each family, so the phase-diagram entry reaches the flag under test.
AXES = {"outliers": ["--x", "alpha", "--x-values", "0.1,0.2", "--y", "p_a", "--y-values", "0.2,0.4"],
        "features": ["--x", "alpha_r", "--x-values", "0.3,0.4", "--y", "L", "--y-values", "10,20"],
        "single_index": ["--x", "d", "--x-values", "8,10", "--y", "r", "--y-values", "2,3"]}
#: Flags for which a negative number is a legitimate value.
NEGATIVE_OK = {"--gate-bias", "--gate-offset", "--gate-offset0"}
#: Flags for which an empty value is legitimate (``--skip=``: skip nothing).
EMPTY_OK = {"--skip"}
#: Flags fuzzed on their own (output paths) or naming the entry point's mode.
NOT_FUZZED = {"--out", "--help", "--model", "--x", "--y"}


def entry_points():
    """(id, main function, base argv) for every entry point and model."""
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent / "benchmarks"))
    out = []
    for model, (family, _) in families.models().items():
        out.append((f"simulate[{model}]", "simulate", ["--model", model]))
        out.append((f"phase_diagram[{model}]", "phase_diagram", ["--model", model, *AXES[family]]))
    out += [(name, name, []) for name in ROOT_SCRIPTS]
    out += [("check_gradients", "check_gradients", []), ("step_bench", "step_bench", [])]
    return out


def help_flags(main, base, capsys) -> dict:
    """Value-taking flags of an entry point, read from the usage line of its --help: flag -> metavar."""
    with pytest.raises(SystemExit) as exc:
        main([*base, "--help"])
    assert exc.value.code == 0
    usage = capsys.readouterr().out.split("\n\n")[0]
    return {flag: meta for flag, meta in re.findall(r"(--[\w-]+) ([A-Z][A-Z0-9_]*|\{[^}]*\})", usage)
            if flag not in NOT_FUZZED}


def bad_values(flag: str, meta: str) -> list:
    values = ["abc", "nan", "inf"] + ([] if flag in EMPTY_OK else [""])
    if flag not in NEGATIVE_OK:
        values.append("-3")
    return values


def run(main, argv, capsys) -> tuple:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.err


@pytest.mark.parametrize("name, module, base", entry_points(), ids=[e[0] for e in entry_points()])
def test_every_flag_refuses_bad_values(name, module, base, tmp_path, monkeypatch, capsys):
    main = importlib.import_module(module).main
    monkeypatch.chdir(tmp_path)
    flags = help_flags(main, base, capsys)
    assert flags, name
    out = tmp_path / "out"
    tried = 0
    for flag, meta in flags.items():
        for value in bad_values(flag, meta):
            argv = [*base, f"{flag}={value}", "--out", str(out)] if "--out" in _all_flags(main, base, capsys) \
                else [*base, f"{flag}={value}"]
            code, err = run(main, argv, capsys)
            lines = err.strip().splitlines()
            assert code == 2, (name, flag, value, code, err[-500:])
            assert len(lines) == 1 and "error:" in lines[0] and "Traceback" not in err, (name, flag, value, err)
            assert "unrecognized arguments" not in err, (name, flag, value, err)
            assert list(tmp_path.iterdir()) == [], (name, flag, value, list(tmp_path.iterdir()))
            tried += 1
    assert tried >= 4 * len(flags)


_FLAG_CACHE: dict = {}


def _all_flags(main, base, capsys) -> set:
    key = (main.__module__, tuple(base))
    if key not in _FLAG_CACHE:
        with pytest.raises(SystemExit):
            main([*base, "--help"])
        _FLAG_CACHE[key] = set(re.findall(r"--[\w-]+", capsys.readouterr().out))
    return _FLAG_CACHE[key]


#: flags whose value sets a size (memory or work grows with it): each must also refuse huge values, before anything
#: is allocated (the run's estimated peak memory against the limit, core.resources; a grid or a seed count past
#: the cap), in a few milliseconds
SIZE_FLAGS = {"--d", "--m", "--M1", "--M2", "--V", "--l-tr", "--l-ts", "--batch", "--steps", "--n-test", "--layers",
              "--n-train", "--L", "--r", "--N-pt", "--T1", "--T2", "--width", "--queries", "--state", "--N-min",
              "--N-max", "--n-eval", "--test-queries", "--seeds", "--jobs", "--heads", "--test-N",
              "--dims", "--krr-prompts", "--steps-list", "--depths"}
HUGE = ("1e9", str(2**62))


@pytest.mark.parametrize("name, module, base", entry_points(), ids=[e[0] for e in entry_points()])
def test_every_size_flag_refuses_huge_values(name, module, base, tmp_path, monkeypatch, capsys):
    """``1e9`` and ``2**62`` for every size flag: exit status 2, one line, nothing written, and quickly (the
    refusal comes from the estimate, before any array is made)."""
    import time

    main = importlib.import_module(module).main
    monkeypatch.chdir(tmp_path)
    flags = [f for f in help_flags(main, base, capsys) if f in SIZE_FLAGS]
    out = tmp_path / "out"
    has_out = "--out" in _all_flags(main, base, capsys)
    for flag in flags:
        for value in HUGE:
            argv = [*base, f"{flag}={value}"] + (["--out", str(out)] if has_out else [])
            t0 = time.perf_counter()
            code, err = run(main, argv, capsys)
            lines = err.strip().splitlines()
            assert code == 2, (name, flag, value, code, err[-500:])
            assert len(lines) == 1 and "error:" in lines[0] and "Traceback" not in err, (name, flag, value, err)
            assert list(tmp_path.iterdir()) == [], (name, flag, value, list(tmp_path.iterdir()))
            assert time.perf_counter() - t0 < 2.0, (name, flag, value)


@pytest.mark.parametrize("module, base", [("simulate", ["--model", "mamba"]), ("simulate", ["--model", "ssm"]),
                                          ("simulate", ["--model", "la-single-index"]),
                                          ("phase_diagram", ["--model", "ssm", *AXES["features"]]),
                                          *[(name, []) for name in ROOT_SCRIPTS]])
def test_unusable_output_folder_is_refused_before_any_work(module, base, tmp_path, monkeypatch, capsys):
    main = importlib.import_module(module).main
    afile = tmp_path / "a_file"
    afile.write_text("x")
    cases = {str(afile): "exists and is not a folder", str(afile / "sub"): "is a file, not a folder",
             "/proc/nope": "cannot create files in /proc"}
    for out, needle in cases.items():
        code, err = run(main, [*base, "--out", out], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err, err
    from mamba_dynamics.core import cli

    monkeypatch.setattr(cli, "MIN_FREE_BYTES", 2**62)  # no file system has that much free: "no space"
    code, err = run(main, [*base, "--out", str(tmp_path / "new")], capsys)
    assert code == 2 and "no space" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # nothing partial left behind
