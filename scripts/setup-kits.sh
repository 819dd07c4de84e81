#!/usr/bin/env bash
# Installs the build tools of the rule kits, at the versions they are tested with
# (docs/writing-rules-{rust,python,js,c}.md). `.ci/run` runs it; so can you, once per machine.
#
# - Rust:       the wasm32-unknown-unknown target (rustup)
# - Python:     componentize-py 0.25.1 (pip)
# - JavaScript: componentize-js 0.23.0 and preview2-shim 0.25.0, as sdk/js/package-lock.json
#               pins them (npm ci in sdk/js)
# - C:          Debian 12's clang 14, lld (wasm-ld), wasi-libc and clang's wasm32 runtime
#               (apt-get; root or sudo). Elsewhere install a wasi-sdk and set WASI_SDK_PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-unknown-unknown
python3 -m pip install --quiet componentize-py==0.25.1
(cd sdk/js && npm ci --no-audit --no-fund --loglevel=error)

c_ready() {
    command -v clang && command -v wasm-ld && test -f /usr/lib/wasm32-wasi/libc.a &&
        compgen -G '/usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a'
} >/dev/null 2>&1
if [ -n "${WASI_SDK_PATH:-}" ]; then
    echo "C: using the wasi-sdk in $WASI_SDK_PATH"
elif ! c_ready; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        clang lld wasi-libc libclang-rt-14-dev-wasm32 >/dev/null
fi
clang --version | head -n 1
