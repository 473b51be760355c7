#!/usr/bin/env bash
# Build app.py (with the vendored weir_plugin_sdk) into a Weir plugin
# component with componentize-py, against wit/plugin.wit.
#
# Usage: ./build.sh [out.wasm]      (default: __NAME_SNAKE__.wasm here)
#
# componentize-py (pinned) is installed once into a venv under
# ${WEIR_TOOLS:-$HOME/.cache/weir/tools} from PyPI; later builds reuse it.
# --stub-wasi replaces every WASI import with a trapping stub, so that the
# component imports only the weir:plugin interfaces, as the host requires.
set -euo pipefail

version=0.25.1
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/__NAME_SNAKE__.wasm}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
tools="${WEIR_TOOLS:-$HOME/.cache/weir/tools}"
venv="$tools/componentize-py-$version"
cpy="$venv/bin/componentize-py"

if ! { [[ -x "$cpy" ]] && "$cpy" --version 2>/dev/null | grep -qF "$version"; }; then
    echo "build.sh: installing componentize-py==$version into $venv" >&2
    mkdir -p "$tools"
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet "componentize-py==$version" >&2
fi

# Build from a copy, so that nothing (__pycache__, bindings) lands here.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -R "$here/app.py" "$here/weir_plugin_sdk" "$work/"
mkdir -p "$(dirname "$out")"
(cd "$work" && "$cpy" -d "$here/wit" -w plugin componentize --stub-wasi app -p "$work" -o "$out" >&2)
echo "build.sh: wrote $out ($(wc -c <"$out") bytes)" >&2
