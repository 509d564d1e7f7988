"""Run f2py-f90wrap on the f90wrap shim to make the C source of the extension module.

usage: run_f2py.py OUTDIR MODNAME F90WRAP_SHIM.f90
"""

import subprocess
import sys
from pathlib import Path


def main() -> None:
    outdir, modname, shim = Path(sys.argv[1]).resolve(), sys.argv[2], Path(sys.argv[3]).resolve()
    f2py = Path(sys.executable).with_name("f2py-f90wrap")
    cmd = [str(f2py) if f2py.exists() else "f2py-f90wrap", "-m", modname, "--lower", str(shim)]
    proc = subprocess.run(cmd, cwd=outdir, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"f2py-f90wrap failed:\n{proc.stdout}\n{proc.stderr}")
    wrappers = outdir / f"{modname}-f2pywrappers.f"
    if not wrappers.exists():   # f2py skips it when no wrapper is needed; meson expects the file
        wrappers.write_text("")


if __name__ == "__main__":
    main()
