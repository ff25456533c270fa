#!/usr/bin/env bash
# Install what building and testing maplog needs, when it is missing (Debian/Ubuntu):
# with no flag, everything scripts/test.sh needs.
# Usage: scripts/deps.sh [--fuzz|--bench]
#   --fuzz adds clang and its sanitizer runtimes; --bench the peer stores' -dev packages
#   (without them maplog-bench and its smoke test run with the peers that are installed)
set -euo pipefail
need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || need+=(gcc)
command -v make >/dev/null 2>&1 || need+=(make)
# the install test builds the example against the install with pkg-config, as users do
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
have_pkg zlib1g-dev || [ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)
have_pkg libxxhash-dev || [ -f /usr/include/xxhash.h ] || need+=(libxxhash-dev)
# the maplog tool's import parses JSON with jansson
have_pkg libjansson-dev || [ -f /usr/include/jansson.h ] || need+=(libjansson-dev)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# the Python package's tests (test/CMakeLists.txt "python"): pytest, and a venv to pip
# install the package into offline (pip builds it with setuptools and wheel)
have_pkg python3-pytest || need+=(python3-pytest)
have_pkg python3-venv || need+=(python3-venv)
have_pkg python3-pip || need+=(python3-pip)
have_pkg python3-setuptools || need+=(python3-setuptools)
# the tests check that 64-bit values in the tool's JSON survive jq
command -v jq >/dev/null 2>&1 || need+=(jq)
# test_cli makes a read-only copy immutable with chattr
command -v chattr >/dev/null 2>&1 || need+=(e2fsprogs)
# maplog ship and its integration test: the NATS C client and a real server
have_pkg libnats-dev || [ -f /usr/include/nats/nats.h ] || need+=(libnats-dev)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
if [ "${1:-}" = "--bench" ]; then
  have_pkg liblmdb-dev || need+=(liblmdb-dev)
  have_pkg libsqlite3-dev || need+=(libsqlite3-dev)
  have_pkg librocksdb-dev || need+=(librocksdb-dev)
fi
if [ "${1:-}" = "--fuzz" ]; then
  command -v clang >/dev/null 2>&1 || need+=(clang)
  have_pkg libclang-rt-dev || ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || need+=(libclang-rt-dev)
fi
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "deps: installing ${need[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "deps: need root (or sudo) to apt-get install ${need[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
