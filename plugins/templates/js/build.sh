#!/usr/bin/env bash
# Build app.js (with the vendored SDK in vendor/) into a Weir plugin component
# with ComponentizeJS, against wit/plugin.wit.
#
# Usage: ./build.sh [out.wasm]      (default: __NAME_SNAKE__.wasm here)
#
# ComponentizeJS (pinned by toolchain/package-lock.json) is installed once
# with `npm ci` into ${WEIR_TOOLS:-$HOME/.cache/weir/tools}/componentize-js-<version>
# from the npm registry; later builds reuse it. Every WASI feature is disabled
# (stdio, random, clocks, http, fetch-event), so that the component imports
# only the weir:plugin interfaces, as the host requires: console.log,
# Math.random and Date.now are not there; log with the host's `log`
# (`import { log } from 'weir:plugin/host@0.1.2'`).
set -euo pipefail

version=0.23.0
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/__NAME_SNAKE__.wasm}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
tools="${WEIR_TOOLS:-$HOME/.cache/weir/tools}"
dir="$tools/componentize-js-$version"
cjs="$dir/node_modules/.bin/componentize-js"

if ! { [[ -x "$cjs" ]] && cmp -s "$here/toolchain/package-lock.json" "$dir/package-lock.json"; }; then
    echo "build.sh: installing ComponentizeJS $version into $dir (npm ci)" >&2
    mkdir -p "$dir"
    cp "$here/toolchain/package.json" "$here/toolchain/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

mkdir -p "$(dirname "$out")"
"$cjs" --wit "$here/wit" --world-name plugin \
    --disable stdio random clocks http fetch-event \
    --out "$out" "$here/app.js" >&2
echo "build.sh: wrote $out ($(wc -c <"$out") bytes)" >&2
