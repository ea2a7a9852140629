#!/usr/bin/env bash
# Installs what the build, the tests and the demo need: Debian's packages, and LibTorch as
# PyPI's torch wheel (CUDA 13 variant, pinned below) in a virtual environment at
# ALIGN_TORCH_VENV (default /opt/align/venv), where CMake looks for it. docs/building.md says
# why this version and this variant.
# Idempotent: with every package present and the pinned torch in the venv it changes nothing.
set -euo pipefail

TORCH_VERSION=2.11.0
VENV="${ALIGN_TORCH_VENV:-/opt/align/venv}"

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  python3 python3-venv
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  prometheus-cpp-dev prometheus
  libopenmpi-dev openmpi-bin
  libyaml-cpp-dev libcli11-dev nlohmann-json3-dev
  libsqlite3-dev sqlite3 libssl-dev openssl
  libarchive-dev libjpeg62-turbo-dev libpng-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
  curl jq stress-ng
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} Debian packages present"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# LibTorch: torch's dist-info names the installed version, so no import is needed to check.
if compgen -G "$VENV/lib/python3*/site-packages/torch-$TORCH_VERSION.dist-info" >/dev/null; then
  echo "install-deps: torch $TORCH_VERSION present in $VENV"
  exit 0
fi
echo "install-deps: installing torch $TORCH_VERSION (CUDA 13 LibTorch, about 3 GB to download) into $VENV"
if [ ! -x "$VENV/bin/python" ]; then
  parent="$(dirname "$VENV")"
  if [ ! -w "$parent" ] && [ ! -d "$VENV" ]; then
    $SUDO mkdir -p "$VENV" && $SUDO chown "$(id -u):$(id -g)" "$VENV"
  fi
  # Debian's Python (python3-venv above): the wheel's tag is cp311.
  python=/usr/bin/python3; [ -x "$python" ] || python=python3
  "$python" -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --no-cache-dir "torch==$TORCH_VERSION"
echo "install-deps: torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)') in $VENV"
