#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a result:
#   bash scripts/bootstrap.sh train [bilmod train flags...]   what building and training need; builds bilmod; trains
#   bash scripts/bootstrap.sh test [ctest args...]             that, plus what the tests need; builds everything; ctest
#   bash scripts/bootstrap.sh build                            as train, without training
# Packages come from Debian (apt-get) only. train installs the libraries the bilmod binary links (its dashboard and
# TOML grid files included) and builds only that target, without MPI; test adds GoogleTest, Google Benchmark,
# OpenMPI, gnuplot (figures), Chromium (the dashboard's page), python3-torch/numpy (the parity tests) and pybind11 with
# Python's headers (`import bilmod`, python/), and builds the tests, benchmarks, the Python module and bilmod with MPI
# in the same build folder; it then points Debian python3's user site at build/python (README "From Python").
# zipcmp, zipmerge, ziptool: libzip-dev's CMake config names their binaries and fails without them.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-train}"
shift || true

build_packages=(build-essential cmake ninja-build pkg-config
  libeigen3-dev libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libsqlite3-dev libzip-dev zipcmp zipmerge ziptool libcpp-httplib-dev libtomlplusplus-dev)
test_packages=(libgtest-dev libgmock-dev libbenchmark-dev libopenmpi-dev openmpi-bin
  gnuplot-nox chromium python3 python3-torch python3-numpy python3-dev pybind11-dev)

install_missing() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "bootstrap: installing ${missing[*]}"
    local sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

case "$mode" in
  train | build)
    install_missing "${build_packages[@]}"
    # Options are set explicitly each time: the same build/ folder serves both modes.
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBILMOD_BUILD_TESTS=OFF -DBILMOD_BUILD_BENCH=OFF \
      -DBILMOD_MPI=OFF
    cmake --build build --target bilmod --parallel "$(nproc)"  # ninja's default, cores + 2, is slower on 2 cores
    [ "$mode" = build ] || exec ./build/bilmod train "$@"
    ;;
  test)
    install_missing "${build_packages[@]}" "${test_packages[@]}"
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBILMOD_BUILD_TESTS=ON -DBILMOD_BUILD_BENCH=ON \
      -DBILMOD_MPI=ON
    cmake --build build
    # A .pth file in the user site puts build/python on Debian python3's path: `import bilmod` from any folder, no
    # environment variable, nothing copied (a rebuild is seen at once). Rewritten each time: the checkout may move.
    user_site=$(/usr/bin/python3 -m site --user-site)
    mkdir -p "$user_site" && echo "$PWD/build/python" >"$user_site/bilmod.pth"
    exec ctest --test-dir build --output-on-failure -j2 --timeout 1500 "$@"
    ;;
  *) echo "usage: bash scripts/bootstrap.sh train|test|build [args...]" >&2; exit 2 ;;
esac
