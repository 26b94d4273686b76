#!/usr/bin/env bash
# Installs the Debian packages aha needs (run as root, or it uses sudo). Used by the README's quick
# start and by .ci/run, so the two cannot drift.
#   libdnnl-dev g++ make   the native compute backend (oneDNN); without it aha falls back to its
#                          TypeScript kernels, ~40x slower
#   bubblewrap python3     the sandbox that runs model-written code (code rewards, their tests)
#   chromium               the dashboard's browser tests (playwright-core drives Debian's chromium)
#   clang lld              the /play page's WASM SIMD kernels (clang --target=wasm32, wasm-ld)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(libdnnl-dev g++ make bubblewrap python3 chromium clang lld)
need=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "aha: installing ${need[*]}"
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${need[@]}" >/dev/null
