#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a result:
#   bash scripts/bootstrap.sh train [bilmod train flags...]   install what is missing, build Release, train
#   bash scripts/bootstrap.sh test                             install what is missing, build Release, run every test
# Packages come from Debian (apt-get) only; python3-torch and python3-numpy serve the parity tests alone.
# zipcmp, zipmerge, ziptool: libzip-dev's CMake config names their binaries and fails without them.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake ninja-build pkg-config
  libeigen3-dev libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev libzip-dev zipcmp zipmerge ziptool libcpp-httplib-dev chromium
  libopenmpi-dev openmpi-bin libtomlplusplus-dev
  gnuplot-nox python3 python3-torch python3-numpy)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build

mode="${1:-train}"
shift || true
case "$mode" in
  train) exec ./build/bilmod train "$@" ;;
  test) exec ctest --test-dir build --output-on-failure -j2 --timeout 1500 "$@" ;;
  build) ;;
  *) echo "usage: bash scripts/bootstrap.sh train|test|build [args...]" >&2; exit 2 ;;
esac
