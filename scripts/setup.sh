#!/usr/bin/env bash
# Set up cnnstat on a fresh Debian machine: Fashion-MNIST, Graphviz and Chromium (apt), and a virtualenv (pip)
# with the optional extras (timm, transformers, onnx, graphviz, selenium) that the tests use.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q dataset-fashion-mnist graphviz chromium chromium-driver
else
  echo "no apt-get: install Fashion-MNIST (pass --data DIR to cnnstat train), Graphviz and Chromium yourself" >&2
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
echo "cnnstat is installed in .venv: run .venv/bin/cnnstat --help" >&2
