"""Dependencies point one way: physics knows nothing of calibration, I/O front ends or the CLI."""

from __future__ import annotations

import ast

import pytest

from conftest import ROOT

PKG = ROOT / "python" / "sebcal"

#: module (folder or file) -> sebcal modules it must never import
FORBIDDEN = {
    "autodiff": {"fortran", "cli", "calibration", "bridge", "runner", "verify", "output"},
    "fortran.py": {"autodiff", "cli", "calibration", "bridge", "runner", "verify"},
    "params.py": {"fortran", "autodiff", "cli", "calibration", "bridge", "config", "forcing"},
    "forcing.py": {"fortran", "autodiff", "cli", "calibration", "bridge"},
    "config.py": {"fortran", "autodiff", "cli", "calibration", "bridge"},
    "calibration": {"cli", "bridge"},
    "bridge": {"cli", "calibration"},
}


def _sebcal_imports(path):
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:                                  # relative: from ..x import y
                parts = mod.split(".") if mod else [a.name for a in node.names]
                found.add(parts[0])
            elif mod.startswith("sebcal."):
                found.add(mod.split(".")[1])
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("sebcal."):
                    found.add(a.name.split(".")[1])
    return found


@pytest.mark.parametrize("where", sorted(FORBIDDEN))
def test_import_directions(where):
    target = PKG / where
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    assert files, where
    for f in files:
        bad = _sebcal_imports(f) & FORBIDDEN[where]
        assert not bad, f"{f.relative_to(ROOT)} imports {sorted(bad)}"


def test_nothing_imports_the_cli():
    for f in PKG.rglob("*.py"):
        if f.name != "cli.py":
            assert "cli" not in _sebcal_imports(f), f
