"""Property-based tests (hypothesis): random and mutated configurations, forcing files and
params.json files given to the command line. Whatever comes in, the outcome is a correct run
or a SebcalError whose message names the file and the key or variable at fault (exit 2):
never a traceback, an internal error, a crash, or a changed input file."""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import shutil
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed (make test "
                                 "installs it)")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from conftest import ROOT  # noqa: E402
from sebcal.cli import main  # noqa: E402
from sebcal.config import TABLES, keys  # noqa: E402
from sebcal.vocabulary import FORCING, PARAMETERS  # noqa: E402

EX = ROOT / "examples"
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

#: words an error may name: the config's keys and tables, parameters, forcing variables
KNOWN = ({k for model in TABLES.values() for k in keys(model)} | set(TABLES) | set(PARAMETERS)
         | set(FORCING) | {a for p in PARAMETERS.values() for a in p.aliases})


def _digest(paths) -> dict:
    return {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


def _cli(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(args)
    return rc, err.getvalue()


def _assert_clean(rc: int, err: str, names: list[str]) -> None:
    assert "Traceback" not in err and "internal error" not in err, err
    assert rc in (0, 2, 3), (rc, err)
    if rc == 2:
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", err))
        named_file = any(n in err for n in names)
        assert named_file or words & KNOWN, f"the error names neither the file nor a key: {err}"


# ------------------------------------------------------------------------ configurations

VALUES = st.one_of(
    st.integers(-10**12, 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda x: repr(x).replace("inf", "inf")
                                                        .replace("nan", "nan")),
    st.sampled_from(['"text"', "true", '""', "[]", "[1, 2]", "{a = 1}", '"2000-13-45"',
                     "-0.0", "1e309", '"paper_synthetic"', '"jacobi"']),
)


@st.composite
def mutated_config(draw):
    lines = (EX / "paper_synthetic_2depth.toml").read_text().splitlines()
    lines = [ln for ln in lines if not ln.lstrip().startswith("#")]
    n = draw(st.integers(1, 3))
    for _ in range(n):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["value", "delete", "duplicate", "rename", "newkey",
                                     "newtable"]))
        line = lines[i]
        if kind == "value" and "=" in line:
            key = line.split("=", 1)[0]
            lines[i] = f"{key}= {draw(VALUES)}"
        elif kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, line)
        elif kind == "rename" and "=" in line:
            key, rest = line.split("=", 1)
            lines[i] = key.strip()[:-1] + "x =" + rest if len(key.strip()) > 1 else line
        elif kind == "newkey":
            lines.insert(i, f"{draw(st.sampled_from(sorted(KNOWN)))} = {draw(VALUES)}")
        elif kind == "newtable":
            lines.insert(i, f"[{draw(st.sampled_from(['forcing', 'evaluation', 'grid', 'x']))}]")
    return "\n".join(lines) + "\n"


@SETTINGS
@given(text=mutated_config())
def test_mutated_configurations_run_or_say_what_is_wrong(text):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg = tmp / "mutant.toml"
        cfg.write_text(text.replace('"data/', f'"{EX}/data/'))
        inputs = [cfg, *(EX / "data" / "paper").glob("Target_T*.txt")]
        before = _digest(inputs)
        rc, err = _cli(["run", str(cfg), "--out", str(tmp / "out.nc")])
        _assert_clean(rc, err, ["mutant.toml"])
        rc, err = _cli(["calibrate", str(cfg), "--out", str(tmp / "cal"), "--starts", "2",
                        "--no-progress", "--no-figures"])
        _assert_clean(rc, err, ["mutant.toml", "Target_T"])
        assert _digest(inputs) == before


# ------------------------------------------------------------------------ forcing files

@st.composite
def mutated_netcdf(draw):
    data = bytearray((EX / "data" / "US-WestPhoenix_clean_observations_v1.nc").read_bytes())
    kind = draw(st.sampled_from(["truncate", "flip", "zero", "empty", "junk"]))
    if kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "flip":
        for _ in range(draw(st.integers(1, 50))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
    elif kind == "zero":
        i = draw(st.integers(0, len(data) - 1))
        n = draw(st.integers(1, 4096))
        data[i:i + n] = bytes(min(n, len(data) - i))
    elif kind == "empty":
        data = bytearray()
    else:
        data = bytearray(draw(st.binary(min_size=0, max_size=2000)))
    return bytes(data)


@SETTINGS
@given(blob=mutated_netcdf())
def test_damaged_netcdf_forcing_runs_or_is_refused(blob):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        nc = tmp / "damaged.nc"
        nc.write_bytes(blob)
        cfg = tmp / "wp.toml"
        cfg.write_text((EX / "west_phoenix_forward.toml").read_text()
                       .replace('"data/US-WestPhoenix_clean_observations_v1.nc"', f'"{nc}"')
                       .replace('"data/', f'"{EX}/data/'))
        before = _digest([nc, cfg])
        rc, err = _cli(["run", str(cfg), "--out", str(tmp / "out.nc")])
        _assert_clean(rc, err, ["damaged.nc"])
        assert _digest([nc, cfg]) == before


@st.composite
def mutated_csv(draw):
    src = sorted((EX / "data" / "US-UTD_DugoutRanch").glob("21314_Flux_AmeriFluxFormat_*.dat"))
    text = src[0].read_text(errors="replace").splitlines()
    kind = draw(st.sampled_from(["cell", "header", "droprow", "dupstamp", "cut"]))
    if kind == "cell" and len(text) > 5:
        r = draw(st.integers(4, len(text) - 1))
        cells = text[r].split(",")
        c = draw(st.integers(0, len(cells) - 1))
        cells[c] = draw(st.sampled_from(['"NAN"', "-9999", "abc", "", "1e300", '"2025-99-99"']))
        text[r] = ",".join(cells)
    elif kind == "header" and len(text) > 1:
        h = text[1].split(",")
        c = draw(st.integers(0, len(h) - 1))
        h[c] = draw(st.sampled_from(['"TA_X"', '""', '"TIMESTAMP_END"', '"SW_IN"']))
        text[1] = ",".join(h)
    elif kind == "droprow" and len(text) > 10:
        del text[draw(st.integers(4, len(text) - 1))]
    elif kind == "dupstamp" and len(text) > 10:
        r = draw(st.integers(5, len(text) - 1))
        text[r] = text[r - 1]
    else:
        text = text[: draw(st.integers(0, len(text)))]
    return "\n".join(text) + "\n", [p.name for p in src]


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(case=mutated_csv())
def test_damaged_ameriflux_csv_runs_or_is_refused(case):
    text, names = case
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        d = tmp / "data"
        shutil.copytree(EX / "data" / "US-UTD_DugoutRanch", d)
        (d / names[0]).write_text(text)
        cfg = tmp / "dr.toml"
        cfg.write_text((EX / "dugout_ranch.toml").read_text()
                       .replace('"data/US-UTD_DugoutRanch/', f'"{d}/')
                       .replace("hours = 696", "hours = 48"))
        before = _digest(sorted(d.iterdir()))
        rc, err = _cli(["run", str(cfg), "--out", str(tmp / "out.nc")])
        _assert_clean(rc, err, ["AmeriFlux", "dr.toml", "21314", "21031"])
        assert _digest(sorted(d.iterdir())) == before


# ------------------------------------------------------------------------ params.json

@pytest.fixture(scope="module")
def params_json(tmp_path_factory):
    out = tmp_path_factory.mktemp("cal")
    cfg = out / "c.toml"
    cfg.write_text((EX / "paper_synthetic_2depth.toml").read_text()
                   .replace('"data/', f'"{EX}/data/').replace("starts = 50", "starts = 4"))
    assert main(["calibrate", str(cfg), "--out", str(out / "cal"), "--no-progress",
                 "--no-figures"]) == 0
    return json.loads((out / "cal" / "params.json").read_text())


JSONISH = st.recursive(st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False),
                                 st.integers(), st.text(max_size=8)),
                       lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6),
                                                                           c, max_size=3),
                       max_leaves=6)


def _paths(doc, prefix=()):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_params_json_exports_or_says_what_is_wrong(params_json, data):
    doc = json.loads(json.dumps(params_json))
    paths = list(_paths(doc))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        node = doc
        try:
            for k in path[:-1]:
                node = node[k]
            if data.draw(st.booleans()):
                node[path[-1]] = data.draw(JSONISH)
            elif isinstance(node, dict):
                del node[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pj = tmp / "params.json"
        pj.write_text(json.dumps(doc))
        before = _digest([pj])
        rc, err = _cli(["export", str(pj), "--host", "sebcal", "--out", str(tmp / "s.nml"),
                        "--allow-implausible"])
        _assert_clean(rc, err, ["params.json"])
        assert _digest([pj]) == before


# ------------------------------------------------------------------------ verify over options

_SWEEP_EXAMPLES = ("paper_synthetic", "west_phoenix_published")


@given(example=st.sampled_from(_SWEEP_EXAMPLES),
       solver=st.sampled_from(["direct", "jacobi"]),
       time_scheme=st.sampled_from(["backward_euler", "crank_nicolson"]),
       init=st.sampled_from(["uniform", "spinup"]),
       bottom=st.sampled_from(["dirichlet", "zero_flux"]),
       longwave=st.sampled_from(["paper", "kirchhoff"]))
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_verify_passes_on_option_combinations_of_the_shipped_examples(example, solver,
                                                                      time_scheme, init,
                                                                      bottom, longwave):
    """Option combinations x shipped examples (48 hourly steps): the config either refuses
    the combination (only Jacobi with an option it cannot run) or verify passes. The whole
    sweep over every example and combination is bench/verify_sweep.py."""
    import importlib.util

    from sebcal.errors import ConfigError
    from sebcal.verification import format_table, verify

    # the sweep's own configuration of a case (bench/verify_sweep.py), so that the test and
    # the benchmark run the same cases
    spec = importlib.util.spec_from_file_location("verify_sweep",
                                                  EX.parent / "bench" / "verify_sweep.py")
    sweep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweep)
    choice = dict(solver=solver, time_scheme=time_scheme, init=init, bottom=bottom,
                  longwave=longwave)
    try:
        cfg = sweep.config(example, choice)
    except ConfigError as exc:
        assert solver == "jacobi" and time_scheme == "crank_nicolson", exc
        assert "jacobi" in str(exc)
        return
    r = verify(cfg)
    assert r["passed"], format_table(r)
