#!/usr/bin/env bash
# Installs, idempotently and quietly, everything ctml's build and tests need:
# Debian packages (apt), a pinned pyarrow (its bundled Arrow/Parquet C++) in .venv/, and a pinned
# mlflow in .deps/mlflow-venv/.
# Re-running it when everything is present takes about a second.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

PYARROW_VERSION=26.0.1
DEB_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git curl python3-venv
  libboost1.81-dev libssl-dev libsqlite3-dev sqlite3 libxgboost-dev
  libsimdjson-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev libxxhash-dev libreadstat-dev clang-format
  libcairo2-dev
  librdkafka-dev libhiredis-dev libpqxx-dev libqpid-proton-cpp12-dev
)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python3 ]; then
  echo "bootstrap: creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python3 -c "import pyarrow, sys; sys.exit(pyarrow.__version__ != '$PYARROW_VERSION')" 2>/dev/null; then
  echo "bootstrap: installing pyarrow==$PYARROW_VERSION into .venv"
  mkdir -p .deps/pip-cache
  .venv/bin/pip install -q --cache-dir .deps/pip-cache "pyarrow==$PYARROW_VERSION"
fi

# MLflow, for the e2e test against a real `mlflow server` (tests/e2e/test_mlflow.py). In its own
# venv: every mlflow release pip resolves here needs pyarrow<26, which would clash with the
# pyarrow pin above (3.18.0 accepts 26 but its mlflow-skinny==3.18.0 is not published).
# About 2 min and 850 MB from scratch.
MLFLOW_VERSION=3.17.2
if ! .deps/mlflow-venv/bin/python3 -c "import importlib.metadata as m, sys
sys.exit(m.version('mlflow') != '$MLFLOW_VERSION')" 2>/dev/null; then
  echo "bootstrap: installing mlflow==$MLFLOW_VERSION into .deps/mlflow-venv"
  mkdir -p .deps/pip-cache
  [ -x .deps/mlflow-venv/bin/python3 ] || python3 -m venv .deps/mlflow-venv
  .deps/mlflow-venv/bin/pip install -q --cache-dir .deps/pip-cache "mlflow==$MLFLOW_VERSION"
fi
