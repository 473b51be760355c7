#!/usr/bin/env bash
# Build the Python WAF plugin (app.py) into a WebAssembly component with
# componentize-py, against the repository's wit/ (weir:plugin@0.1.1, world
# `plugin`).
#
# Usage: build.sh <out.wasm>
#
# componentize-py lives in a venv under ${WEIR_TOOLS:-$HOME/.cache/weir/tools};
# it is created and filled on the first run only (later runs only build).
#
# By default it passes --stub-wasi: every WASI import is replaced by a
# trapping stub, so the component imports nothing but weir:plugin/host, which
# the host's load check requires. WEIR_PY_STUB_WASI=0 builds with CPython's
# full WASI imports (filesystem and sockets included), which the host refuses;
# see README.md.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 <out.wasm>" >&2
    exit 2
fi

version=0.25.1
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
wit="$repo/wit"
tools="${WEIR_TOOLS:-$HOME/.cache/weir/tools}"
venv="$tools/componentize-py-$version"
cpy="$venv/bin/componentize-py"
out="$1"
case "$out" in
    /*) ;;
    *) out="$PWD/$out" ;;
esac

if [[ -x "$cpy" ]] && "$cpy" --version 2>/dev/null | grep -qF "$version"; then
    echo "build.sh: componentize-py $version found in $venv" >&2
else
    if [[ ! -x "$venv/bin/python" ]]; then
        echo "build.sh: creating venv $venv" >&2
        mkdir -p "$tools"
        python3 -m venv "$venv"
    fi
    echo "build.sh: installing componentize-py==$version into $venv" >&2
    nice -n 10 "$venv/bin/python" -m pip install --disable-pip-version-check --quiet \
        "componentize-py==$version" >&2
fi

stub=()
if [[ "${WEIR_PY_STUB_WASI:-1}" == 1 ]]; then
    stub=(--stub-wasi)
fi

# Build from a copy of app.py, so that nothing (__pycache__, generated
# bindings) is written into the source directory.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/app.py" "$work/app.py"
mkdir -p "$(dirname "$out")"
echo "build.sh: componentize-py -d $wit -w plugin componentize ${stub[*]} app -> $out" >&2
(
    cd "$work"
    nice -n 10 "$cpy" -d "$wit" -w plugin componentize "${stub[@]}" app -p "$work" -o "$out" >&2
)
echo "build.sh: wrote $out ($(wc -c <"$out") bytes)" >&2
