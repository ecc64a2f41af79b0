#!/usr/bin/env bash
# Build .venv-bench: the reference recommenders the ranking benchmark compares against
# (LightFM WARP, RecBole SASRec and LightGCN). Kept apart from the product's .venv because
# RecBole 1.2.1 needs numpy<2 and LightFM 1.17 must be built from source.
#
#   bash benchmarks/setup_reference_env.sh          # creates ./.venv-bench next to the repo root
#   VENV=/path/to/venv bash benchmarks/setup_reference_env.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv-bench}"
PY="${PYTHON:-python3.11}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
# pip<25 still builds a setup.py-only sdist the legacy way (LightFM 1.17 needs that).
$PIP install -q --upgrade "pip<25" "setuptools<75" wheel
$PIP install -q -r benchmarks/requirements-reference.txt
$PIP install -q --no-deps "thop>=0.1.1.post2207130030" "recbole==1.2.1"

# LightFM 1.17 has no wheel for this Python: build it against the numpy already installed.
if ! "$VENV/bin/python" -c "import lightfm" 2>/dev/null; then
  WHEELS="$(mktemp -d)"
  $PIP wheel -q --no-build-isolation --no-use-pep517 --no-deps "lightfm==1.17" -w "$WHEELS"
  $PIP install -q --no-deps "$WHEELS"/lightfm-*.whl
  rm -rf "$WHEELS"
fi

"$VENV/bin/python" - <<'PY'
import numpy, scipy, torch, lightfm, recbole
print("reference env ok:", "numpy", numpy.__version__, "scipy", scipy.__version__,
      "torch", torch.__version__, "lightfm", lightfm.__version__, "recbole", recbole.__version__)
PY
