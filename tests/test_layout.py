"""The layers of the package, in one place (docs/architecture.md draws them).

Dependencies point one way: the vocabulary knows nothing, the physics and the two backends
know nothing of configuration, files, calibration, export or the command line, and nothing
imports the CLI. Every module of the package is in exactly one layer, and may import only
from its own layer (where the table allows) and the layers below it.
"""

from __future__ import annotations

import ast

import pytest

from conftest import ROOT

PKG = ROOT / "python" / "sebcal"

#: layer -> modules (files or packages). Lower layers first.
LAYERS: list[tuple[str, set[str]]] = [
    ("vocabulary", {"errors", "vocabulary", "times", "_version"}),
    ("model", {"params", "spec", "physics"}),
    ("backends", {"fortran", "fortran_wrap", "autodiff"}),
    ("io", {"forcing", "config", "output", "observations", "paramsfile", "plots"}),
    ("runs", {"runner", "verification", "calibration", "estimate", "validation"}),
    ("export", {"bridge"}),
    ("interface", {"api", "bmi", "cli", "displays", "__init__", "__main__"}),
]
#: pairs inside one layer that must not import each other (importer, imported)
SAME_LAYER_FORBIDDEN = {("fortran", "autodiff"), ("autodiff", "fortran"),
                        ("config", "forcing"), ("config", "observations"),
                        ("forcing", "config"), ("forcing", "observations")}


def layer_of(module: str) -> int:
    for i, (_, mods) in enumerate(LAYERS):
        if module in mods:
            return i
    raise KeyError(module)


def top_module(path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def sebcal_imports(path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    depth = len(path.relative_to(PKG).parts) - 1          # 0 for sebcal/x.py
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                if node.level <= depth:                    # inside the own package
                    continue
                parts = mod.split(".") if mod else [a.name for a in node.names]
                found.add(parts[0])
            elif mod.startswith("sebcal."):
                found.add(mod.split(".")[1])
            elif mod == "sebcal":
                found.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("sebcal."):
                    found.add(a.name.split(".")[1])
    return found


FILES = sorted(p for p in PKG.rglob("*.py") if "fortran_wrap" not in p.parts)


def test_every_module_is_in_one_layer():
    names = {top_module(p) for p in FILES}
    placed = set().union(*(m for _, m in LAYERS))
    assert names <= placed, f"modules in no layer: {sorted(names - placed)}"
    counts = [sum(n in m for _, m in LAYERS) for n in names]
    assert all(c == 1 for c in counts)


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(PKG)) for p in FILES])
def test_imports_point_down(path):
    me = top_module(path)
    mine = layer_of(me)
    for other in sebcal_imports(path):
        if other == "__version__":
            continue
        theirs = layer_of(other)
        assert theirs <= mine, (f"{path.relative_to(ROOT)} ({LAYERS[mine][0]}) imports {other} "
                                f"({LAYERS[theirs][0]}, a higher layer)")
        assert (me, other) not in SAME_LAYER_FORBIDDEN, f"{me} must not import {other}"


def test_nothing_imports_the_cli():
    for f in FILES:
        if f.name != "cli.py" and f.name != "__main__.py":
            assert "cli" not in sebcal_imports(f), f


_NEW_PARAMETER = """
from sebcal import vocabulary as V
V.PARAMETERS["q_f"] = V.Parameter(
    "q_f", "Q_F", "W m-2", "anthropogenic heat flux into the surface", "surface",
    V.NPSURF + 1, (0.0, 500.0), (True, True), (0.0, 100.0), (1.0, 50.0), (0.0, 300.0),
    "linear", 0.0, ({"top": ("seb",)},), equation="2", source="test")
from sebcal.config import markdown_reference, parse_config
from sebcal.calibration.priors import literature
from sebcal.calibration.space import Space
from sebcal.errors import ConfigError
from sebcal.params import Params
base = {"alpha": 0.2, "lambda": 0.8, "C": 2.2e6, "T_b": 293.0, "h_eff": 25.0}
cfg = parse_config({"parameters": {**base, "q_f": 20.0},
                    "calibration": {"free": ["q_f", "lambda"]}})
assert cfg.params["q_f"] == 20.0
try:
    parse_config({"parameters": {**base, "q_f": 900.0}})
    raise SystemExit("q_f = 900 accepted")
except ConfigError as exc:
    assert "q_f" in str(exc) and "W m-2" in str(exc) and "bounds" in str(exc), str(exc)
assert "`q_f`" in markdown_reference()
sp = Space.build(["q_f"], Params.from_dict({"q_f": 20.0}))
assert sp.coords[0].bounds == (0.0, 300.0) and sp.coords[0].unit == "W m-2"
assert literature("q_f").kind == "normal"
assert "`q_f`" in V.markdown_parameters()
assert "q_f" in V.needed(V.default_options())
print("ok")
"""


def test_a_new_parameter_needs_only_the_vocabulary():
    """docs/architecture.md's walk-through: one Parameter added to the vocabulary (before
    anything else is imported, in a fresh process) is taken up by the configuration, Params,
    the calibration space, priors and the docs with no other edit; the Fortran slot and the
    physics that uses it are the only other edits."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _NEW_PARAMETER], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
