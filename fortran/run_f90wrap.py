"""Run f90wrap on the flat API module and place its outputs under flat names for meson.

f90wrap -P writes a package folder (fortran_wrap/__init__.py, fortran_wrap/sebcal_api.py);
meson outputs cannot contain folders, so the files are copied into the output folder here and
meson installs them into sebcal/fortran_wrap/. Nothing in them is edited.

usage: run_f90wrap.py OUTDIR API.f90 KIND_MAP STRING_LENGTHS
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> None:
    outdir, api, kind_map, string_lengths = (Path(a).resolve() for a in sys.argv[1:5])
    f90wrap = Path(sys.executable).with_name("f90wrap")
    cmd = [str(f90wrap) if f90wrap.exists() else "f90wrap", "-m", "fortran_wrap", "-k", str(kind_map),
           "-s", str(string_lengths), "--type-check", "--relative", "-P", str(api)]
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"f90wrap failed:\n{proc.stdout}\n{proc.stderr}")
        tmp = Path(tmp)
        shutil.copy(tmp / "f90wrap_sebcal_api.f90", outdir / "f90wrap_sebcal_api.f90")
        shutil.copy(tmp / "fortran_wrap" / "__init__.py", outdir / "__init__.py")
        shutil.copy(tmp / "fortran_wrap" / "sebcal_api.py", outdir / "sebcal_api.py")


if __name__ == "__main__":
    main()
