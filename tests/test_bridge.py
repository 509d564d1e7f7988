"""sebcal export / transfer: host files, templates, round trips, errors (issue: bridge)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from conftest import DATA, ROOT

pytestmark = pytest.mark.bridge

TPL = Path(__file__).parent / "data"
C_WP = 2.447e6


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def wp_params_dict() -> dict:
    """A realistic West Phoenix params.json (values set by hand, config of the example)."""
    from sebcal.config import load_config

    cfg = load_config(ROOT / "examples" / "west_phoenix_published.toml")
    d = cfg.to_dict()
    p = {"alpha": (0.172, None, "1"), "eps": (0.95, None, "1"),
         "lambda": (0.826, 0.04, "W m-1 K-1"), "C": (C_WP, 7e4, "J m-3 K-1"),
         "T_b": (305.40, 0.04, "K"), "h_eff": (19.65, 0.1, "W m-2 K-1")}
    free = ["h_eff", "lambda", "C", "T_b"]
    return {
        "schema_version": 2,
        "sebcal_version": "0.1.0",
        "parameters": {k: {"value": v, "std": s, "unit": u, "fitted": s is not None}
                       for k, (v, s, u) in p.items()},
        "correlation": {"names": free, "matrix": [[1.0, 0.12, -0.21, 0.34],
                                                  [0.12, 1.0, -0.63, 0.08],
                                                  [-0.21, -0.63, 1.0, -0.05],
                                                  [0.34, 0.08, -0.05, 1.0]]},
        "identifiability": {"ok": True, "findings": []},
        "metrics": {"calibration": {"T2 (SoilTemp at 0.02 m)": {"rmse": 2.49, "bias": -0.69,
                                                                "r": 0.996}},
                    "evaluation": {"T2 (SoilTemp at 0.02 m)": {"rmse": 2.10, "bias": -0.21,
                                                               "r": 0.997}}},
        "starts": [{"initial": {"h_eff": 20.0, "lambda": 0.6, "C": 2.2e6, "T_b": 300.0},
                    "final": {"h_eff": 19.65, "lambda": 0.826, "C": C_WP, "T_b": 305.4},
                    "loss": 812.4}],
        "fit": {"loss": 812.4},
        "config": d,
    }


@pytest.fixture(scope="module")
def wp(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("wp") / "params.json"
    path.write_text(json.dumps(wp_params_dict(), indent=2))
    return path


@pytest.fixture(scope="module")
def forcing(wp):
    from sebcal.bridge import load_params
    from sebcal.runner import forcing_for

    return forcing_for(load_params(wp).config)


def _ours(line: str) -> bool:
    s = line.lstrip()
    return s.startswith(("! sebcal:", "# sebcal:")) or any(
        s.startswith(m + " " + w) for m in "!#" for w in
        ("Exported by", "host:", "template:", "changed:", "mapping, units"))


def _template_lines_kept(template: Path, out: Path, changed_markers: tuple[str, ...]) -> None:
    """Every template line is in the output, in order; only lines with our values differ."""
    t = template.read_text().splitlines()
    o = [ln for ln in out.read_text().splitlines() if not _ours(ln)]
    assert len(o) == len(t)
    for a, b in zip(t, o):
        if a != b:
            assert any(m in b for m in changed_markers), (a, b)
            # an inline comment of the template line survives
            if "!" in a:
                assert a[a.index("!"):] in b
            if "#" in a:
                assert a[a.index("#"):] in b


# --------------------------------------------------------------------------- params.json

def test_load_params(wp):
    from sebcal.bridge import load_params

    cal = load_params(wp)
    assert cal.params.lam == 0.826 and cal.params.C == C_WP and cal.params.beta is None
    assert cal.std["lambda"] == 0.04 and cal.std["alpha"] is None
    assert cal.fitted["T_b"] and not cal.fitted["eps"]
    assert cal.config.params == cal.params and cal.config.nt == 200
    assert "observations" in cal.config.tables


@pytest.mark.parametrize("edit, words", [
    (lambda d: d.pop("metrics"), ["missing field 'metrics'"]),
    (lambda d: d.__setitem__("schema_version", 1), ["schema_version", "1", "version 2"]),
    (lambda d: d.pop("schema_version"), ["missing field 'schema_version'"]),
    (lambda d: d["parameters"]["lambda"].pop("std"), ["parameters.lambda.std"]),
    (lambda d: d["parameters"].pop("T_b"), ["parameters.T_b"]),
    (lambda d: d["parameters"]["C"].__setitem__("unit", "kJ m-3 K-1"),
     ["parameters.C.unit", "J m-3 K-1"]),
    (lambda d: d["parameters"]["lambda"].__setitem__("value", -1.0), ["lambda", "bounds"]),
    (lambda d: d["config"]["grid"].__setitem__("nodes", 1), ["config", "nodes"]),
])
def test_params_errors(tmp_path, edit, words):
    from sebcal.bridge import load_params
    from sebcal.errors import ConfigError

    d = wp_params_dict()
    edit(d)
    p = tmp_path / "params.json"
    p.write_text(json.dumps(d))
    with pytest.raises(ConfigError) as exc:
        load_params(p)
    for w in words:
        assert w in str(exc.value)
    assert str(p) in str(exc.value)


def test_params_file_errors(tmp_path):
    from sebcal.bridge import load_params
    from sebcal.errors import ConfigError

    with pytest.raises(ConfigError, match="does not exist"):
        load_params(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not a JSON file"):
        load_params(tmp_path / "bad.json")


# ------------------------------------------------------------------------- mapping table

def test_mapping_table_and_docs():
    from sebcal.bridge import HOSTS, MAPPINGS, SOURCES, markdown_table

    doc = (ROOT / "docs" / "hosts.md").read_text()
    for host in HOSTS:
        rows = MAPPINGS[host]
        assert {e.param for e in rows} >= {"alpha", "eps", "lambda", "C", "T_b", "h_eff",
                                           "beta"}
        for e in rows:
            assert e.kind in ("direct", "approximate", "none")
            assert e.sources and all(s in SOURCES for s in e.sources)
            assert e.kind == "none" or e.convert is not None
            assert e.kind == "direct" or e.caveat
        # the table in docs/hosts.md is the table in code
        assert markdown_table(host) in doc, host
    for key in SOURCES:
        assert f"`{key}`" in doc


def test_neutral_roughness_inverse():
    from sebcal.bridge.hosts import neutral_h, z0_from_h

    for h in (5.0, 19.65, 60.0):
        z0 = z0_from_h(h, 2.2, 22.1, 3.0, 0.1, 1.12 * 1005.0)
        assert 0 < z0 < 19.1
        assert math.isclose(neutral_h(z0, 2.2, 22.1, 3.0, 0.1, 1.12 * 1005.0), h,
                            rel_tol=1e-12)


# ---------------------------------------------------------------------------- sebcal host

def test_sebcal_namelist_round_trip(wp, forcing, tmp_path):
    """Written by f90nml, read back by f90nml and by the Fortran scheme; the run from the
    file reproduces the run from params.json to round-off."""
    import f90nml

    from sebcal.bridge import export, load_params
    from sebcal.fortran import Column, read_namelist, simulate

    out = tmp_path / "sebcal.nml"
    res = export(wp, "sebcal", out)
    assert res.warnings == []
    cal = load_params(wp)
    nml = f90nml.read(out)
    p = nml["sebcal_params"]
    assert (p["alpha"], p["emissivity"], p["lambda"], p["heat_capacity"], p["t_bottom"],
            p["h_eff"]) == (0.172, 0.95, 0.826, C_WP, 305.4, 19.65)
    assert "bowen" not in p
    assert nml["sebcal_grid"]["nodes"] == 101 and nml["sebcal_grid"]["depth"] == 1.0
    assert nml["sebcal_options"]["dt"] == 3600.0 and nml["sebcal_options"]["init"] == "uniform"
    assert nml["sebcal_options"]["turbulence"] == "h_eff"
    assert "+/- 0.04" in out.read_text()          # uncertainty in a comment

    spec, params = read_namelist(out)              # the Fortran scheme's own reader
    assert params == cal.params
    assert np.allclose(spec.node_depths, cal.config.node_depths, rtol=0, atol=1e-15)
    assert spec.dx == cal.config.dx                # uniform grid: spacing exactly dx
    assert spec.options == cal.config.spec.options
    ref = simulate(cal.config.spec, forcing, cal.params)
    run = simulate(spec, forcing, params)
    assert np.array_equal(run.T, ref.T)
    col = Column(spec, params)                     # a host-owned column from the file
    T, fl = col.advance(forcing.rows(spec.options)[:, 1:])
    assert np.max(np.abs(T - ref.T[1:])) < 1e-9
    assert np.max(np.abs(fl["Qg"] - ref.fluxes["Qg"][1:])) < 1e-7
    from sebcal.autodiff import simulate as torch_run

    _, T_t, _ = torch_run(spec, forcing, params)
    assert np.max(np.abs(T_t - ref.T)) < 1e-8


def test_sebcal_template_keeps_options(wp, tmp_path):
    import f90nml

    from sebcal.bridge import export

    tpl = tmp_path / "mine.nml"
    tpl.write_text("! my run\n&sebcal_params\n  alpha = 0.3  ! old\n  emissivity = 0.9\n"
                   "  lambda = 1.0\n  heat_capacity = 2.0e6\n  t_bottom = 290.0\n"
                   "  h_eff = 10.0\n/\n&sebcal_grid\n  nodes = 31\n  depth = 3.0\n/\n"
                   "&sebcal_options\n  dt = 1800.0\n  solver = 'jacobi'\n/\n")
    out = tmp_path / "new.nml"
    export(wp, "sebcal", out, template=tpl)
    n = f90nml.read(out)
    assert n["sebcal_params"]["lambda"] == 0.826 and n["sebcal_params"]["alpha"] == 0.172
    assert n["sebcal_grid"]["nodes"] == 31 and n["sebcal_options"]["solver"] == "jacobi"
    assert "! my run" in out.read_text() and "! old" in out.read_text()


# -------------------------------------------------------------------------------- JULES

def test_jules_template(wp, tmp_path):
    import f90nml

    from sebcal.bridge import export

    tpl = TPL / "jules_template.nml"
    before = _sha(tpl)
    out = tmp_path / "jules.nml"
    res = export(wp, "jules", out, template=tpl, options={"z_ref": "22.1", "d": "3.0"})
    assert _sha(tpl) == before
    a, b = f90nml.read(tpl), f90nml.read(out)
    assert set(a) == set(b)
    for g in a:
        if g in ("jules_soil_props", "jules_nvegparm"):
            continue
        assert a[g] == b[g], g                     # other groups (and repeated ones) unchanged
    sp_a, sp_b = a["jules_soil_props"], b["jules_soil_props"]
    for k in sp_a:
        if k != "const_val":
            assert sp_a[k] == sp_b[k]
    want = list(sp_a["const_val"])
    want[6], want[7], want[8] = C_WP, 0.826, 0.172          # hcap, hcon, albsoil
    assert sp_b["const_val"] == want
    nv_a, nv_b = a["jules_nvegparm"], b["jules_nvegparm"]
    for k in nv_a:
        if k in ("emis_nvg_io", "z0_nvg_io"):
            assert nv_b[k][:2] == nv_a[k][:2] and nv_b[k][3] == nv_a[k][3]
        else:
            assert nv_a[k] == nv_b[k], k
    assert nv_b["emis_nvg_io"][2] == 0.95
    assert nv_b["albsnf_nvg_io"][2] == -1.0                 # -1: albsoil carries alpha
    z0 = nv_b["z0_nvg_io"][2]
    assert 0.4 < z0 < 0.8                                   # West Phoenix: 0.6 m reported
    _template_lines_kept(tpl, out, ("2447000.0", "0.826", "0.172", "0.95", repr(z0)))
    text = out.read_text()
    assert "DRY-soil" in text and "+/- 0.04" in text and "U = 2.2" in text
    w = "\n".join(res.warnings)
    assert "approximate" in w and "ch_nvg_io" in w and "T_b not exported" in w
    assert "albsnf_nvg_io(3)" in w and "left unchanged" in w


def test_jules_no_template(wp, tmp_path):
    import f90nml

    from sebcal.bridge import export

    out = tmp_path / "jules_fragment.nml"
    export(wp, "jules", out, options={"u_ref": "3.0", "z_ref": "22.1"})
    n = f90nml.read(out)
    sp = n["jules_soil_props"]
    assert dict(zip(sp["var"], sp["const_val"])) == {"hcap": C_WP, "hcon": 0.826,
                                                      "albsoil": 0.172}
    assert sp["use_file"] == [False] * 3 and sp["nvars"] == 3
    nv = n["jules_nvegparm"]
    assert nv["nvgname_io"] == "soil" and nv["emis_nvg_io"] == 0.95
    assert nv["albsnf_nvg_io"] == 0.172 and nv["z0hm_nvg_io"] == 0.1 and nv["z0_nvg_io"] > 0


def test_jules_template_errors(wp, tmp_path):
    from sebcal.bridge import export
    from sebcal.errors import ConfigError

    text = (TPL / "jules_template.nml").read_text()
    hc3 = tmp_path / "hc3.nml"
    hc3.write_text(text.replace("soilhc_method = 1", "soilhc_method = 3"))
    with pytest.raises(ConfigError, match=r"outside the host's valid range.*soilhc_method = 3"):
        export(wp, "jules", tmp_path / "o1.nml", template=hc3)
    start = text.index("&JULES_NVEGPARM")
    no_nveg = tmp_path / "no_nveg.nml"
    no_nveg.write_text(text[:start] + text[text.index("/", start) + 1:])
    with pytest.raises(ConfigError, match=r"no namelist group &JULES_NVEGPARM; add the group"):
        export(wp, "jules", tmp_path / "o2.nml", template=no_nveg)
    no_emis = tmp_path / "no_emis.nml"
    no_emis.write_text(text.replace("  emis_nvg_io    = 0.97, 0.985, 0.90, 0.99,\n", ""))
    with pytest.raises(ConfigError, match=r"no emis_nvg_io; add 'emis_nvg_io = \.\.\.'"):
        export(wp, "jules", tmp_path / "o3.nml", template=no_emis)
    no_hcon = tmp_path / "no_hcon.nml"
    no_hcon.write_text(text.replace("'hcap' 'hcon'", "'hcap' 'hcox'"))
    with pytest.raises(ConfigError, match=r"var has no 'hcon'; add 'hcon' to var"):
        export(wp, "jules", tmp_path / "o4.nml", template=no_hcon)
    with pytest.raises(ConfigError, match=r"no such non-vegetated type"):
        export(wp, "jules", tmp_path / "o5.nml", template=TPL / "jules_template.nml",
               options={"tile": "rock"})


# ------------------------------------------------------------------------------ Noah-MP

def test_noahmp_template(wp, tmp_path):
    import f90nml

    from sebcal.bridge import export

    tpl = TPL / "NoahmpTable_excerpt.TBL"
    out = tmp_path / "NoahmpTable.TBL"
    res = export(wp, "noahmp", out, template=tpl, options={"soil_color": "4",
                                                            "smcmax": "0.439"})
    a, b = f90nml.read(tpl), f90nml.read(out)
    assert a["noahmp_usgs_veg_categories"] == b["noahmp_usgs_veg_categories"]
    assert a["noahmp_global_parameters"] == b["noahmp_global_parameters"]
    ra, rb = a["noahmp_rad_parameters"], b["noahmp_rad_parameters"]
    for k in ra:
        if k in ("albsat_vis", "albsat_nir", "albdry_vis", "albdry_nir"):
            assert rb[k][3] == 0.172
            assert rb[k][:3] == ra[k][:3] and rb[k][4:] == ra[k][4:]
        elif k == "eg":
            assert rb[k] == [0.95, 0.98]
        else:
            assert ra[k] == rb[k], k
    ga, gb = a["noahmp_general_parameters"], b["noahmp_general_parameters"]
    assert gb["csoil_data"] == C_WP / (1 - 0.439)
    assert gb["zbot_data"] == -8.0                     # T_b at 1 m: not below the 2 m soil
    for k in ga:
        if k != "csoil_data":
            assert ga[k] == gb[k]
    _template_lines_kept(tpl, out, ("0.172", "0.95", repr(C_WP / (1 - 0.439))))
    w = "\n".join(res.warnings)
    assert "ZBOT_DATA left unchanged" in w and "lambda not exported" in w
    assert "neutral roughness" in w


def test_noahmp_errors(wp, tmp_path):
    from sebcal.bridge import export
    from sebcal.errors import ConfigError

    text = (TPL / "NoahmpTable_excerpt.TBL").read_text()
    bad = tmp_path / "t.TBL"
    bad.write_text("\n".join(ln for ln in text.splitlines() if "CSOIL_DATA" not in ln))
    with pytest.raises(ConfigError, match=r"noahmp_general_parameters has no CSOIL_DATA; add"):
        export(wp, "noahmp", tmp_path / "o.TBL", template=bad)
    with pytest.raises(ConfigError, match=r"outside the host's valid range"):
        export(wp, "noahmp", tmp_path / "o.TBL", options={"smcmax": "1.0"})
    with pytest.raises(ConfigError, match=r"unknown option 'soil_colour'.*soil_color"):
        export(wp, "noahmp", tmp_path / "o.TBL", options={"soil_colour": "4"})


def test_noahmp_no_template(wp, tmp_path):
    import f90nml

    from sebcal.bridge import export

    out = tmp_path / "noahmp.nml"
    export(wp, "noahmp", out, options={"soil_color": "2"})
    n = f90nml.read(out)
    assert n["noahmp_general_parameters"]["csoil_data"] == C_WP
    rad = n["noahmp_rad_parameters"]
    assert rad["albdry_nir"] == [0.172] and rad.start_index["albdry_nir"] == [2]
    assert rad["eg"] == [0.95] and rad.start_index["eg"] == [1]     # written as EG(1) = ...


# ---------------------------------------------------------------------------------- CLM

def _clm_template(path: Path) -> None:
    import netCDF4

    with netCDF4.Dataset(path, "w") as ds:
        for d, n in {"lsmlon": 1, "lsmlat": 1, "numurbl": 3, "nlevurb": 5, "numrad": 2}.items():
            ds.createDimension(d, n)
        rng = np.random.default_rng(1)
        for name, dims in {"TK_ROOF": ("nlevurb",), "TK_IMPROAD": ("nlevurb",),
                           "CV_IMPROAD": ("nlevurb",), "ALB_IMPROAD_DIR": ("numrad",),
                           "ALB_IMPROAD_DIF": ("numrad",), "EM_IMPROAD": (),
                           "CANYON_HWR": (), "PCT_URBAN": ()}.items():
            v = ds.createVariable(name, "f8", dims + ("numurbl", "lsmlat", "lsmlon"))
            v[:] = rng.uniform(0.1, 0.9, v.shape)
            v.units = "unitless"
        n = ds.createVariable("NLEV_IMPROAD", "i4", ("numurbl", "lsmlat", "lsmlon"))
        n[:] = [[[2]], [[3]], [[2]]]
        ds.title = "CLM urban surface data for US-WestPhoenix (test)"
        ds.history = "created by the test"


def test_clm(wp, tmp_path):
    import netCDF4

    from sebcal.bridge import export

    tpl = tmp_path / "surfdata.nc"
    _clm_template(tpl)
    out = tmp_path / "surfdata_sebcal.nc"
    res = export(wp, "clm", out, template=tpl, options={"urban_class": "MD"})
    with netCDF4.Dataset(tpl) as a, netCDF4.Dataset(out) as b:
        assert set(a.variables) == set(b.variables) and a.title == b.title
        assert b.history.startswith("created by the test")
        for name, va in a.variables.items():
            x, y = np.asarray(va[:]), np.asarray(b.variables[name][:])
            mask = np.zeros(x.shape, bool)
            want = {"TK_IMPROAD": 0.826, "CV_IMPROAD": C_WP, "ALB_IMPROAD_DIR": 0.172,
                    "ALB_IMPROAD_DIF": 0.172, "EM_IMPROAD": 0.95}.get(name)
            if want is not None:
                if name in ("TK_IMPROAD", "CV_IMPROAD"):
                    mask[:2, 2] = True                     # NLEV_IMPROAD = 2 for MD
                else:
                    mask[..., 2, :, :] = True
                assert np.all(y[mask] == want), name
                assert b.variables[name].sebcal_urban_class == 3
            assert np.array_equal(x[~mask], y[~mask]), name
        assert b.variables["TK_IMPROAD"].sebcal_std == 0.04
        assert "DRY" not in b.variables["TK_IMPROAD"].sebcal_comment
        assert "h_eff" in b.sebcal_not_exported
    assert any("h_eff not exported" in w for w in res.warnings)
    frag = tmp_path / "clm_fragment.nc"
    export(wp, "clm", frag)
    with netCDF4.Dataset(frag) as ds:
        assert np.all(ds["EM_IMPROAD"][2] == 0.95) and np.all(ds["EM_IMPROAD"][:2].mask)
        assert np.all(ds["TK_IMPROAD"][:, 2] == 0.826)


# -------------------------------------------------------------------------------- SUEWS

def test_suews_template(wp, tmp_path):
    from sebcal.bridge import export, yamlmini

    tpl = TPL / "suews_config_excerpt.yml"
    out = tmp_path / "config_suews.yml"
    res = export(wp, "suews", out, template=tpl, options={"surface": "bsoil"})
    a = yamlmini.loads(tpl.read_text())
    b = yamlmini.loads(out.read_text())
    bs = b["site"][0]["properties"]["land_cover"]["bsoil"]
    assert bs["alb"]["value"] == 0.172 and bs["emis"]["value"] == 0.95
    assert bs["thermal_layers"]["k"]["value"] == [0.826] * 5
    assert bs["thermal_layers"]["cp"]["value"] == [C_WP] * 5
    assert bs["thermal_layers"]["dz"] == a["site"][0]["properties"]["land_cover"]["bsoil"][
        "thermal_layers"]["dz"]
    a_bs = a["site"][0]["properties"]["land_cover"]["bsoil"]
    a_bs["alb"]["value"], a_bs["emis"]["value"] = 0.172, 0.95
    a_bs["thermal_layers"]["k"]["value"] = [0.826] * 5
    a_bs["thermal_layers"]["cp"]["value"] = [C_WP] * 5
    assert a == b                                  # nothing else changed
    _template_lines_kept(tpl, out, ("0.172", "0.95", "0.826", "2447000.0"))
    assert "# OHM" in out.read_text() and "# bare soil" in out.read_text()
    assert res.warnings and all("surface not given" not in w for w in res.warnings)
    import yaml  # a test dependency (pyproject [test])

    assert yaml.safe_load(out.read_text()) == b    # a real YAML parser reads the same values


def test_suews_fragment_and_errors(wp, tmp_path):
    from sebcal.bridge import export, yamlmini
    from sebcal.errors import ConfigError

    out = tmp_path / "frag.yml"
    res = export(wp, "suews", out)
    d = yamlmini.loads(out.read_text())
    tl = d["site"][0]["properties"]["land_cover"]["bsoil"]["thermal_layers"]
    assert tl["rho_cp"]["value"] == [C_WP] * 5 and tl["k"]["value"] == [0.826] * 5
    assert any("surface not given" in w for w in res.warnings)
    text = (TPL / "suews_config_excerpt.yml").read_text()
    cut = text.index("      bsoil:")
    bad = tmp_path / "nobsoil.yml"
    bad.write_text(text[:cut])
    with pytest.raises(ConfigError, match=r"land_cover has paved\); add the surface block"):
        export(wp, "suews", tmp_path / "o.yml", template=bad)
    with pytest.raises(ConfigError, match=r"did you mean 'bsoil'"):
        export(wp, "suews", tmp_path / "o.yml", options={"surface": "bsol"})


# ---------------------------------------------------------------------- files and errors

def test_overwrite_rules(wp, tmp_path):
    from sebcal.bridge import export
    from sebcal.errors import ConfigError, SebcalError

    out = tmp_path / "x.nml"
    out.write_text("keep me")
    with pytest.raises(SebcalError, match="exists; pass --force"):
        export(wp, "sebcal", out)
    assert out.read_text() == "keep me"
    export(wp, "sebcal", out, force=True)
    assert "&sebcal_params" in out.read_text()
    tpl = tmp_path / "tpl.nml"
    tpl.write_text(out.read_text())
    before = _sha(tpl)
    with pytest.raises(SebcalError, match="never overwrites the template"):
        export(wp, "sebcal", tpl, template=tpl, force=True)
    assert _sha(tpl) == before
    with pytest.raises(ConfigError, match=r"unknown host 'jueles' \(did you mean 'jules'\?\)"):
        export(wp, "jueles", tmp_path / "y.nml")
    with pytest.raises(ConfigError, match="template .* does not exist"):
        export(wp, "jules", tmp_path / "y.nml", template=tmp_path / "none.nml")
    assert not list(tmp_path.glob(".*"))           # no temporary files left behind


def test_cli(wp, tmp_path, capsys):
    from sebcal.cli import main

    out = tmp_path / "jules.nml"
    rc = main(["export", str(wp), "--host", "jules", "--out", str(out), "--template",
               str(TPL / "jules_template.nml"), "--option", "z_ref=22.1", "--option", "d=3"])
    cap = capsys.readouterr()
    assert rc == 0 and out.exists()
    assert "z0_nvg_io(3)" in cap.out and "warning: T_b not exported" in cap.err
    rc = main(["export", str(wp), "--host", "noah", "--out", str(tmp_path / "n")])
    assert rc == 2 and "did you mean 'noahmp'" in capsys.readouterr().err
    rc = main(["export", str(wp), "--host", "jules", "--out", str(out)])
    assert rc == 2 and "--force" in capsys.readouterr().err
    rc = main(["transfer", str(wp), "--grid", "jules", "--out", str(tmp_path)])
    cap = capsys.readouterr()
    assert rc == 0 and "RMSE host" in cap.out and (tmp_path / "transfer.md").exists()
    rc = main(["transfer", str(wp), "--grid", "julse"])
    assert rc == 2 and "did you mean 'jules'" in capsys.readouterr().err


# ------------------------------------------------------------------------------ transfer

def test_transfer_west_phoenix(wp, tmp_path):
    from sebcal.bridge import transfer

    r = transfer(wp, "noahmp", out_dir=tmp_path)
    assert np.allclose(r.host_z, [0, 0.05, 0.25, 0.7, 1.5, 2.0])
    assert len(r.rows) == 6                        # T2, LWup, QhQle x calibration, evaluation
    fine = {(x["label"], x["window"]): x["rmse_fine"] for x in r.rows}
    assert fine[("T2", "calibration")] == pytest.approx(2.486, abs=2e-3)
    for x in r.rows:
        assert np.isfinite(x["rmse_host"]) and x["rmse_host"] > 0
    text = r.report.read_text()
    assert "moves from 1 m" in text and "to 2 m" in text and "| T2 (SoilTemp at 0.02 m)" in text
    b = transfer(wp, "jules", placement="boundaries", write=False)
    assert np.allclose(b.host_z, [0, 0.1, 0.35, 1.0, 3.0]) and b.report is None
    c = transfer(wp, "0,0.02,0.1,0.5,1.0", write=False)
    assert c.host == "custom" and c.host_z[-1] == 1.0


def test_transfer_grid_errors():
    from sebcal.bridge import host_grid
    from sebcal.errors import ConfigError

    with pytest.raises(ConfigError, match="did you mean 'noahmp'"):
        host_grid("noah-mp")
    with pytest.raises(ConfigError, match="start at 0"):
        host_grid("0.1,0.2,0.5")
    with pytest.raises(ConfigError, match="placement"):
        host_grid("jules", "middle")


def test_observation_file_is_the_example():
    assert (DATA / "US-WestPhoenix_clean_observations_v1.nc").exists()
