"""Saving results: arrays to ``.npz`` plus a JSON sidecar, both written atomically (temp file, then rename).

The sidecar carries what is needed to trust and redo a run: the config, the seed, package versions, the BLAS
kernels (:mod:`~mamba_dynamics.core.blas`), the git commit of the working tree (if any), wall time and status.
"""

from __future__ import annotations

import io
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: a reader sees the old file or the complete new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_npz(path: str | os.PathLike, arrays: dict) -> Path:
    """Atomically save a dict of arrays as compressed ``.npz``."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return atomic_write_bytes(path, buf.getvalue())


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return value if np.isfinite(value) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def save_json(path: str | os.PathLike, obj: dict) -> Path:
    """Atomically save ``obj`` as indented JSON (NaN/inf become null)."""
    text = json.dumps(_jsonable(obj), indent=2, sort_keys=False)
    return atomic_write_bytes(path, (text + "\n").encode())


def git_commit() -> str | None:
    """The commit of the repository holding this package (with ``+dirty`` if modified), or None."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True,
            timeout=5,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def run_metadata() -> dict:
    """Package versions, the BLAS kernels and threads (:func:`~mamba_dynamics.core.blas.describe`: results agree
    across kernel sets to rounding, not bit for bit), Python, platform, git commit and a UTC timestamp."""
    import numba
    import scipy

    from .. import __version__
    from .blas import describe as describe_blas

    versions = {"mamba_dynamics": __version__, "numpy": np.__version__, "numba": numba.__version__,
                "scipy": scipy.__version__, "python": sys.version.split()[0]}
    try:
        import matplotlib

        versions["matplotlib"] = matplotlib.__version__
    except ImportError:  # pragma: no cover
        pass
    return {
        "versions": versions,
        "blas": describe_blas(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_run(out_dir: str | os.PathLike, stem: str, arrays: dict, sidecar: dict) -> tuple[Path, Path]:
    """Write ``<stem>.npz`` and ``<stem>.json`` (sidecar + metadata) into ``out_dir``; returns both paths."""
    out = Path(out_dir)
    npz = save_npz(out / f"{stem}.npz", arrays)
    meta = dict(sidecar)
    meta.setdefault("metadata", run_metadata())
    meta["arrays"] = sorted(arrays)
    js = save_json(out / f"{stem}.json", meta)
    return npz, js


def load_run(out_dir: str | os.PathLike, stem: str) -> tuple[dict, dict]:
    """Read back ``(arrays, sidecar)`` written by :func:`write_run`."""
    out = Path(out_dir)
    with np.load(out / f"{stem}.npz") as data:
        arrays = {k: data[k] for k in data.files}
    return arrays, json.loads((out / f"{stem}.json").read_text())
