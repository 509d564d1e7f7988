"""The binary wheel: built, repaired with auditwheel so that libgfortran travels inside it,
installed in a fresh virtual environment and run (`sebcal run`) outside the source tree with
no Fortran or C compiler on PATH (tools/check_wheel.sh, `make wheel`)."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conftest import ROOT


@pytest.mark.slow
def test_the_wheel_runs_without_a_compiler(tmp_path):
    if shutil.which("ldd") is None:
        pytest.skip("ldd is not available to show where libgfortran is loaded from")
    r = subprocess.run([str(ROOT / "tools" / "check_wheel.sh"), str(tmp_path)],
                       capture_output=True, text=True, timeout=1200)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert re.search(r"repaired: sebcal-.*-manylinux_\d+_\d+_x86_64\.whl", out), out
    assert re.search(r"bundled: sebcal.libs/libgfortran-", out), out
    assert re.search(r"libgfortran from \S+/venv/\S+sebcal\.libs/libgfortran-", out), out
    m = re.search(r"wp\.nc: \{'time': 201, 'soil_depth': 101\} ([0-9.]+) K max", out)
    assert m and 290.0 < float(m[1]) < 340.0, out[-2000:]
