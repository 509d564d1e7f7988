"""The CCPP scheme (fortran/ccpp): metadata against the Fortran, a host that owns the state of
several columns and calls the scheme in blocks, and the error paths. gfortran only: no
framework code is needed (docs/frameworks.md)."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
META = ROOT / "fortran" / "ccpp" / "sebcal_ccpp.meta"
SCHEME = ROOT / "fortran" / "ccpp" / "sebcal_ccpp.F90"
CORE = ["sebcal_const.f90", "sebcal_surface.f90", "sebcal_soil.f90", "sebcal_column.f90",
        "sebcal_simulate.f90", "sebcal_namelist.f90"]
needs_gfortran = pytest.mark.skipif(shutil.which("gfortran") is None,
                                    reason="gfortran not on PATH: the CCPP test host cannot be "
                                           "built (make test installs it)")


def _checker():
    spec = importlib.util.spec_from_file_location("ccpp_meta_check",
                                                  ROOT / "tools" / "ccpp_meta_check.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["ccpp_meta_check"] = mod
    spec.loader.exec_module(mod)
    return mod


# ------------------------------------------------------------------------- metadata checker

def test_metadata_agrees_with_the_fortran():
    assert _checker().check(META, SCHEME) == []


def _mutate(text: str, var: str, old: str, new: str, table: str = "sebcal_ccpp_run") -> str:
    start = text.index(f"name = {table}")
    i = text.index(f"[{var}]", start)
    j = text.index(old, i)
    return text[:j] + new + text[j + len(old):]


MUTATIONS = {
    "intent": (lambda t: _mutate(t, "t_soil", "intent = inout", "intent = in"), "intent in"),
    "rank": (lambda t: _mutate(t, "theta", "dimensions = (horizontal_loop_extent,"
                               "vertical_dimension_of_sebcal_nodes)",
                               "dimensions = (horizontal_loop_extent)"), "rank 2"),
    "kind": (lambda t: _mutate(t, "wind", "kind = kind_phys\n", ""), "kind (none)"),
    "type": (lambda t: _mutate(t, "nz", "type = integer", "type = real"), "type real"),
    "order": (lambda t: t.replace("[sw_down]", "[tmp]").replace("[lw_down]", "[sw_down]")
              .replace("[tmp]", "[lw_down]"), "order must agree"),
    "optional": (lambda t: _mutate(t, "sbc", "  intent = in\n",
                                   "  intent = in\n  optional = True\n"), "optional = True"),
    "missing": (lambda t: _mutate(t, "lai", "[lai]", "[leaf_area]"), "differ from the dummy"),
    "dimension name": (lambda t: _mutate(t, "psurf", "number_of_sebcal_surface_parameters",
                                         "number_of_parameters"), "dimension 'number_of_param"),
    "errflg name": (lambda t: _mutate(t, "errflg", "ccpp_error_code", "error_code",
                                      "sebcal_ccpp_finalize"), "ccpp_error_code"),
}


@pytest.mark.parametrize("what", sorted(MUTATIONS))
def test_metadata_checker_finds_each_kind_of_mismatch(tmp_path, what):
    mutate, expected = MUTATIONS[what]
    bad = tmp_path / "fortran" / "ccpp"
    shutil.copytree(ROOT / "fortran", tmp_path / "fortran")
    (bad / "sebcal_ccpp.meta").write_text(mutate(META.read_text()))
    problems = _checker().check(bad / "sebcal_ccpp.meta", bad / "sebcal_ccpp.F90")
    assert len(problems) >= 1 and any(expected in p for p in problems), problems


def test_metadata_checker_wants_the_arg_table_comment_lines(tmp_path):
    shutil.copytree(ROOT / "fortran", tmp_path / "fortran")
    f90 = tmp_path / "fortran" / "ccpp" / "sebcal_ccpp.F90"
    f90.write_text(f90.read_text().replace("!! \\htmlinclude sebcal_ccpp_run.html", "!!"))
    problems = _checker().check(tmp_path / "fortran" / "ccpp" / "sebcal_ccpp.meta", f90)
    assert len(problems) == 1 and "htmlinclude sebcal_ccpp_run.html" in problems[0]


def test_ccpp_framework_checker_when_available():
    """The CCPP framework's own checker (ccpp-framework scripts/fortran_tools/
    offline_check_fortran_vs_metadata.py), when CCPP_FRAMEWORK names a checkout of it."""
    fw = os.environ.get("CCPP_FRAMEWORK")
    if not fw:
        pytest.skip("CCPP_FRAMEWORK is not set to a ccpp-framework checkout (it is not on PyPI);"
                    " the project-written checker above runs instead")
    tool = Path(fw) / "scripts" / "fortran_tools" / "offline_check_fortran_vs_metadata.py"
    proc = subprocess.run([sys.executable, str(tool), "--directory", str(META.parent)],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "All checks passed" in proc.stdout, proc.stdout + proc.stderr


#: units of the standard names the scheme shares with the ccpp-physics host dictionary (the
#: UFS Noah-MP metadata, noahmpdrv.meta / GFS_typedefs.meta): the test host declares these,
#: not the scheme's, so that capgen sees a unit the dictionary does not have
DICTIONARY_UNITS = {"leaf_area_index": "none", "stefan_boltzmann_constant": "W m-2 K-4",
                    "upward_heat_flux_in_soil_over_land": "W m-2", "surface_air_pressure": "Pa",
                    "timestep_for_physics": "s", "surface_downwelling_shortwave_flux": "W m-2",
                    "surface_downwelling_longwave_flux": "W m-2", "deep_soil_temperature": "K"}


def _capgen_host(meta: Path, d: Path) -> None:
    """A minimal capgen host for the scheme in d: a module holding one host variable for
    each standard name the scheme's tables use (arrays over horizontal_dimension), a host
    subroutine that calls the generated cap's initialize, and a one-scheme suite."""
    import re

    seen: dict[str, dict] = {}
    for t in meta.read_text().split("[ccpp-arg-table]")[1:]:
        for blk in re.split(r"\n(?=\[)", t)[1:]:
            props = dict(re.findall(r"\n\s*(\w+)\s*=\s*(.*)", blk))
            if props.get("standard_name"):
                seen.setdefault(props["standard_name"], props)
    dims = {"vertical_dimension_of_sebcal_nodes": ("nz", 31),
            "number_of_sebcal_surface_parameters": ("npsurf", 15),
            "number_of_sebcal_soil_parameters": ("npsoil", 6)}
    names = {"horizontal_dimension": "ncols", **{k: v[0] for k, v in dims.items()}}
    m = ["[ccpp-table-properties]", "  name = sebcal_host_mod", "  type = module",
         "[ccpp-arg-table]", "  name = sebcal_host_mod", "  type = module", "[ ncols ]",
         "  standard_name = horizontal_dimension", "  units = count", "  type = integer",
         "  protected = True", "  dimensions = ()"]
    f = ["module sebcal_host_mod", "  use ccpp_kinds, only: kind_phys", "  implicit none",
         "  public", "  !> \\section arg_table_sebcal_host_mod  Argument Table",
         "  !! \\htmlinclude arg_table_sebcal_host_mod.html", "  !!",
         "  integer, parameter :: ncols = 3"]
    for k, (sn, p) in enumerate(seen.items()):
        if sn in ("ccpp_error_message", "ccpp_error_code", "horizontal_loop_extent"):
            continue
        var = dims[sn][0] if sn in dims else f"v{k}"
        dl = [x.strip() for x in p["dimensions"].strip("()").replace(
            "horizontal_loop_extent", "horizontal_dimension").split(",") if x.strip()]
        m += [f"[ {var} ]", f"  standard_name = {sn}",
              f"  units = {DICTIONARY_UNITS.get(sn, p['units'])}",
              f"  dimensions = ({','.join(dl)})"]
        if sn in dims:
            m += ["  type = integer", "  protected = True"]
            f.append(f"  integer, parameter :: {var} = {dims[sn][1]}")
        elif p["type"] == "character":
            m += ["  type = character", "  kind = len=256"]
            f.append(f"  character(len=256) :: {var} = 'sebcal.nml'")
        else:
            m += ["  type = real | kind = kind_phys"]
            shape = ", ".join(names[x] for x in dl)
            init = {"timestep_for_physics": "1800", "stefan_boltzmann_constant": "5.67e-8"
                    }.get(sn, "0")
            f.append(f"  real(kind_phys) :: {var}" + (f"({shape})" if shape else "")
                     + f" = {init}_kind_phys")
    f.append("end module sebcal_host_mod")
    (d / "sebcal_host_mod.meta").write_text("\n".join(m) + "\n")
    (d / "sebcal_host_mod.F90").write_text("\n".join(f) + "\n")
    (d / "sebcal_host.meta").write_text(
        "[ccpp-table-properties]\n  name = sebcal_host\n  type = host\n[ccpp-arg-table]\n"
        "  name = sebcal_host\n  type = host\n"
        "[ col_start ]\n  standard_name = horizontal_loop_begin\n  type = integer\n"
        "  units = count\n  dimensions = ()\n  protected = True\n"
        "[ col_end ]\n  standard_name = horizontal_loop_end\n  type = integer\n"
        "  units = count\n  dimensions = ()\n  protected = True\n"
        "[ errmsg ]\n  standard_name = ccpp_error_message\n  units = none\n"
        "  dimensions = ()\n  type = character\n  kind = len=512\n"
        "[ errflg ]\n  standard_name = ccpp_error_code\n  units = 1\n  dimensions = ()\n"
        "  type = integer\n")
    (d / "sebcal_host.F90").write_text(
        "module sebcal_host_prog\n  implicit none\n  private\n  public :: sebcal_host\n"
        "contains\n  !> \\section arg_table_sebcal_host  Argument Table\n"
        "  !! \\htmlinclude arg_table_sebcal_host.html\n  !!\n"
        "  subroutine sebcal_host(errflg_out, errmsg_out)\n"
        "    use sebcal_host_ccpp_cap, only: sebcal_host_ccpp_physics_initialize\n"
        "    integer, intent(out) :: errflg_out\n"
        "    character(len=512), intent(out) :: errmsg_out\n"
        "    integer :: col_start, col_end\n    character(len=512) :: errmsg\n"
        "    integer :: errflg\n    col_start = 1\n    col_end = 3\n"
        "    call sebcal_host_ccpp_physics_initialize('sebcal_suite', errmsg, errflg)\n"
        "    errflg_out = errflg\n    errmsg_out = errmsg\n  end subroutine sebcal_host\n"
        "end module sebcal_host_prog\n")
    (d / "main.F90").write_text(
        "program main\n  use sebcal_host_prog, only: sebcal_host\n  implicit none\n"
        "  integer :: errflg\n  character(len=512) :: errmsg\n"
        "  call sebcal_host(errflg, errmsg)\n  print '(i0,1x,a)', errflg, trim(errmsg)\n"
        "end program main\n")
    (d / "sebcal_suite.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<suite name="sebcal_suite" version="1.0">\n'
        '  <group name="land">\n    <scheme>sebcal_ccpp</scheme>\n  </group>\n</suite>\n')


def test_capgen_output_compiles_and_runs(tmp_path):
    """NCAR's capgen (ccpp-framework scripts/ccpp_capgen.py) generates the caps for a suite of
    the scheme and a host holding every variable the metadata names (units, dimensions and
    the required stefan_boltzmann_constant as the dictionary has them); gfortran compiles the
    caps with the scheme, and the host's initialize reaches the scheme: without the
    namelist it reports the missing file, with it it succeeds."""
    fw = os.environ.get("CCPP_FRAMEWORK")
    if not fw:
        pytest.skip("CCPP_FRAMEWORK is not set to a ccpp-framework checkout (it is not on PyPI):"
                    " capgen cannot run")
    if shutil.which("gfortran") is None:
        pytest.skip("gfortran not on PATH: the capgen output cannot be compiled")
    _capgen_host(META, tmp_path)
    proc = subprocess.run([sys.executable, str(Path(fw) / "scripts" / "ccpp_capgen.py"),
                           "--host-files", "sebcal_host_mod.meta,sebcal_host.meta",
                           "--scheme-files", str(META), "--suites", "sebcal_suite.xml",
                           "--output-root", "out", "--host-name", "sebcal_host"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = tmp_path / "out"
    src = Path(fw) / "src"
    files = [out / "ccpp_kinds.F90", src / "ccpp_hashable.F90", src / "ccpp_hash_table.F90",
             src / "ccpp_constituent_prop_mod.F90", ROOT / "fortran" / "ccpp" / "machine.F90",
             *[ROOT / "fortran" / c for c in CORE], SCHEME, tmp_path / "sebcal_host_mod.F90",
             out / "ccpp_sebcal_suite_cap.F90", out / "sebcal_host_ccpp_cap.F90",
             tmp_path / "sebcal_host.F90", tmp_path / "main.F90"]
    (tmp_path / "mod").mkdir()
    proc = subprocess.run(["gfortran", "-ffree-line-length-none", f"-J{tmp_path / 'mod'}", "-o",
                           str(tmp_path / "host"), *map(str, files)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    run = subprocess.run([str(tmp_path / "host")], capture_output=True, text=True,
                         cwd=tmp_path, timeout=60)
    assert run.stdout.split(None, 1) == ["1", "sebcal_ccpp_init: namelist file not found: "
                                         "sebcal.nml\n"]
    (tmp_path / "sebcal.nml").write_text(_namelist(PARAMS[0]))
    run = subprocess.run([str(tmp_path / "host")], capture_output=True, text=True,
                         cwd=tmp_path, timeout=60)
    assert run.stdout.strip() == "0", run.stdout + run.stderr


# ------------------------------------------------------------------------- the test host

@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    if shutil.which("gfortran") is None:
        pytest.skip("gfortran not on PATH: the CCPP test host cannot be built")
    d = tmp_path_factory.mktemp("ccpp")
    core = [str(ROOT / "fortran" / f) for f in CORE]
    ccpp = [str(ROOT / "fortran" / "ccpp" / f) for f in ("machine.F90", "sebcal_ccpp.F90")]
    flags = ["-O2", "-fimplicit-none", "-ffree-line-length-none", f"-J{d}"]
    exe = {}
    for name, extra in (("driver", [str(ROOT / "fortran" / "driver" / "sebcal_driver.f90")]),
                        ("host", ccpp + [str(ROOT / "tests" / "fortran" / "ccpp_host.f90")]),
                        ("errors", ccpp + [str(ROOT / "tests" / "fortran" / "ccpp_errors.f90")])):
        exe[name] = d / name
        proc = subprocess.run(["gfortran", *flags, "-o", str(exe[name]), *core, *extra],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    return exe


OPTIONS = """&sebcal_grid
  nodes = 31, depth = 1.5
/
&sebcal_options
  dt = 1800.0, turbulence = 'bulk', stability = 'most', latent = 'resistance',
  surface_resistance = 'constant', longwave = 'kirchhoff', bottom = 'dirichlet', init = 'uniform'
/
"""
PARAMS = [  # three columns with different soils and surfaces
    dict(alpha=0.20, emissivity=0.95, t_bottom=293.0, z0m=0.010, z_ref=2.0, r_s=150.0,
         **{"lambda": 0.8, "heat_capacity": 2.2e6}),
    dict(alpha=0.30, emissivity=0.92, t_bottom=288.0, z0m=0.050, z_ref=3.0, r_s=60.0,
         **{"lambda": 1.9, "heat_capacity": 1.4e6}),
    dict(alpha=0.12, emissivity=0.97, t_bottom=296.0, z0m=0.002, z_ref=2.5, r_s=400.0,
         **{"lambda": 0.3, "heat_capacity": 2.9e6}),
]


def _namelist(p: dict) -> str:
    body = ",\n  ".join(f"{k} = {v!r}" for k, v in p.items())
    return f"&sebcal_params\n  {body}\n/\n{OPTIONS}"


def _forcing(i: int, nlev: int = 101) -> np.ndarray:
    """A diurnal cycle per column (each its own phase, amplitude and weather), nine columns:
    K_down, L_down, Ta, wind, PSurf, Qair, LAI, top value, T_bottom."""
    t = np.arange(nlev) * 1800.0
    day = np.sin(2 * np.pi * (t / 86400.0 - 0.25 + 0.05 * i))
    sw = np.clip((700.0 + 100 * i) * day, 0.0, None)
    lw = 330.0 + 20 * i + 15 * day
    ta = 290.0 + 3 * i + (6.0 + i) * day
    wind = 2.0 + i + np.cos(t / 20000.0)
    ps = np.full(nlev, 1.0e5 - 2000 * i)
    qa = 0.006 + 0.002 * i + 0.001 * day
    return np.column_stack([sw, lw, ta, wind, ps, qa, np.zeros(nlev), np.zeros(nlev),
                            np.full(nlev, 293.0)])


@pytest.mark.parametrize("block", [2, 1, 3])
def test_host_owned_columns_in_blocks_equal_the_driver_byte_for_byte(tmp_path, programs, block):
    """Three columns with different parameters, run by the host in blocks (2 + 1, and 1 + 1 + 1
    and 3) for 100 steps: every line of every column equals the stand-alone driver's run of
    that column alone, byte for byte (levels 1..100)."""
    args = []
    expected = []
    for i, p in enumerate(PARAMS):
        nml = tmp_path / f"col{i + 1}.nml"
        nml.write_text(_namelist(p))
        forcing = tmp_path / f"forcing{i + 1}.txt"
        np.savetxt(forcing, _forcing(i), fmt="%.17g", header="9 forcing rows")
        out = tmp_path / f"driver{i + 1}.txt"
        proc = subprocess.run([str(programs["driver"]), str(nml), str(forcing), str(out)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout
        lines = out.read_text().splitlines()
        assert lines[0].startswith("#") and len(lines) == 102
        expected.append(lines[2:])            # skip the header and level 0
        args += [str(nml), str(forcing)]
    proc = subprocess.run([str(programs["host"]), str(block), *args, str(tmp_path / "host")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for i in range(3):
        got = (tmp_path / f"host{i + 1}.txt").read_text().splitlines()
        assert len(got) == 100
        assert got == expected[i], f"column {i + 1} differs from its stand-alone run"
    # the columns really differ (a host that mixed them up could not pass the check above)
    ts = [float(e[50].split()[1]) for e in expected]
    assert min(abs(ts[0] - ts[1]), abs(ts[1] - ts[2]), abs(ts[0] - ts[2])) > 0.5


def test_error_paths_return_a_message_and_a_flag(tmp_path, programs):
    nml = tmp_path / "col.nml"
    nml.write_text(_namelist(PARAMS[0]))
    proc = subprocess.run([str(programs["errors"]), str(nml), "31", "1800"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {}
    for line in proc.stdout.splitlines():
        name, flag, same, *msg = line.split(" ", 3)
        rows[name] = (int(flag), same == "T", " ".join(msg))
    expected_errors = {
        "run_before_init": "sebcal_ccpp_init has not run",
        "missing_namelist": "namelist file not found",
        "nz_mismatch": "vertical_dimension_of_sebcal_nodes = 32",
        "dt_mismatch": "host physics time step",
        "run_dt_mismatch": "differs from the namelist dt",
        "negative_lambda": "column 2",
        "nan_air_temperature": "column 2: forcing: SWdown, LWdown and Tair must be finite",
        "nan_shortwave": "column 1: forcing",
        "nan_state": "column 1: the soil temperature state must be finite",
        "celsius_air_temperature": "degrees Celsius",
        "unknown_bowen_ratio": None,          # bulk turbulence: the Bowen ratio is not used
        "run_after_finalize": "sebcal_ccpp_init has not run",
    }
    for name, text in expected_errors.items():
        flag, unchanged, msg = rows[name]
        if text is None:
            assert flag == 0, (name, msg)
            continue
        assert flag != 0 and text in msg, (name, rows[name])
        assert unchanged, f"{name}: the host's state changed on an error"
    assert "lambda" in rows["negative_lambda"][2]
    for ok in ("init_ok", "run_ok", "finalize"):
        assert rows[ok][0] == 0 and rows[ok][2] == "", (ok, rows[ok])
    assert not rows["run_ok"][1], "a successful step must change the state"


def test_h_eff_without_bowen_ratio_is_refused(tmp_path, programs):
    """With the published h_eff surface the host needs the Bowen ratio to split the turbulent
    flux; without it the scheme says so instead of returning NaN fluxes."""
    text = ("&sebcal_params\n  alpha = 0.2, t_bottom = 293.0, h_eff = 25.0, lambda = 0.8,\n"
            "  heat_capacity = 2.2e6\n/\n&sebcal_grid\n  nodes = 31, depth = 1.5\n/\n"
            "&sebcal_options\n  dt = 1800.0\n/\n")
    nml = tmp_path / "paper.nml"
    nml.write_text(text)
    proc = subprocess.run([str(programs["errors"]), str(nml), "31", "1800"],
                          capture_output=True, text=True)
    rows = {line.split(" ", 1)[0]: line for line in proc.stdout.splitlines()}
    assert rows["run_ok"].split()[1] != "0" and "Bowen ratio" in rows["run_ok"]
