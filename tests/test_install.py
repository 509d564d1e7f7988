"""The binary wheel: built, repaired with auditwheel so that libgfortran travels inside it,
installed in a virtual environment and run (`sebcal run`) outside the source tree with no
Fortran or C compiler on PATH (tools/check_wheel.sh, `make wheel`).

To keep `make test` short the environment is kept between runs in a per-user cache, one per
set of declared dependencies (pyproject.toml) and Python version: sebcal is uninstalled and the
new wheel installed, pip checking every dependency it declares; the meson build folder of the
wheel is kept in build/ so that only changed Fortran is recompiled. `make wheel` builds and
installs from scratch."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import ROOT


@pytest.mark.slow
def test_the_wheel_runs_without_a_compiler(tmp_path):
    if shutil.which("ldd") is None:
        pytest.skip("ldd is not available to show where libgfortran is loaded from")
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    key = hashlib.sha256(repr((sorted(deps), sys.version)).encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sebcal"
    env = dict(os.environ, WHEEL_VENV=str(cache / f"wheel-{key}" / "venv"),
               WHEEL_BUILD_DIR=str(ROOT / "build" / "wheel-meson"))
    r = subprocess.run([str(ROOT / "tools" / "check_wheel.sh"), str(tmp_path)],
                       capture_output=True, text=True, timeout=1200, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert re.search(r"repaired: sebcal-.*-manylinux_\d+_\d+_x86_64\.whl", out), out
    assert re.search(r"bundled: sebcal.libs/libgfortran-", out), out
    assert re.search(r"libgfortran from \S+/venv/\S+sebcal\.libs/libgfortran-", out), out
    m = re.search(r"wp\.nc: \{'time': 201, 'soil_depth': 101\} ([0-9.]+) K max", out)
    assert m and 290.0 < float(m[1]) < 340.0, out[-2000:]
