#!/usr/bin/env bash
# Set up cnnstat on a fresh Debian machine: the Fashion-MNIST package (apt) and a virtualenv (pip).
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q dataset-fashion-mnist
else
  echo "no apt-get: install Fashion-MNIST yourself and pass --data DIR to cnnstat train" >&2
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
echo "cnnstat is installed in .venv: run .venv/bin/cnnstat --help" >&2
