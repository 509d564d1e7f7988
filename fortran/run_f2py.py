"""Run f2py-f90wrap on the f90wrap shim to make the C source of the extension module.

The batched routines run their columns on OpenMP threads. For them, f90wrap's Ctrl-C handler
(which leaves the Fortran by longjmp, and may run in whichever thread the signal reaches) is
taken out of the generated C: Python's own handler stays in place, and the KeyboardInterrupt
arrives when the call returns (python/sebcal/fortran.py). The edit fails loudly if f90wrap
generates something else.

usage: run_f2py.py OUTDIR MODNAME F90WRAP_SHIM.f90
"""

import subprocess
import sys
from pathlib import Path


THREADED = ("sebcal_api_tangents", "sebcal_api_probe_batch")
EDITS = (
    ("_npy_sig_save = PyOS_setsig(SIGINT, f90wrap_abort_int_handler);", "_npy_sig_save = NULL;"),
    ("setjmpvalue = setjmp(environment_buffer);", "setjmpvalue = 0;"),
    ("     PyOS_setsig(SIGINT, _npy_sig_save);\n    }\n    /* End addition */",
     "     (void)_npy_sig_save;\n    }\n    /* End addition */"),
)


def without_abort_handler(source: str, routine: str, modname: str) -> str:
    """The C source with f90wrap's SIGINT handler and setjmp removed from one routine."""
    head = f"static PyObject *f2py_rout_{modname}_f90wrap_sebcal_api__{routine}("
    start = source.index(head)
    end = source.find("static PyObject *f2py_rout_", start + len(head))
    body = source[start:end if end > 0 else len(source)]
    for old, new in EDITS:
        if body.count(old) != 1:
            sys.exit(f"run_f2py.py: f90wrap's abort handler in {routine} is not as expected "
                     f"({old!r} found {body.count(old)} times); check the f90wrap version")
        body = body.replace(old, new)
    return source[:start] + body + (source[end:] if end > 0 else "")


def main() -> None:
    outdir, modname, shim = Path(sys.argv[1]).resolve(), sys.argv[2], Path(sys.argv[3]).resolve()
    f2py = Path(sys.executable).with_name("f2py-f90wrap")
    cmd = [str(f2py) if f2py.exists() else "f2py-f90wrap", "-m", modname, "--lower", str(shim)]
    proc = subprocess.run(cmd, cwd=outdir, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"f2py-f90wrap failed:\n{proc.stdout}\n{proc.stderr}")
    csource = outdir / f"{modname}module.c"
    text = csource.read_text()
    for routine in THREADED:
        text = without_abort_handler(text, routine, modname)
    csource.write_text(text)
    wrappers = outdir / f"{modname}-f2pywrappers.f"
    if not wrappers.exists():   # f2py skips it when no wrapper is needed; meson expects the file
        wrappers.write_text("")


if __name__ == "__main__":
    main()
