#!/usr/bin/env bash
# Rebuild the console UI's vendored front-end libraries from console/ui/package-lock.json.
#
# The UI is plain ES modules served as static files: no bundler, no build step in the browser,
# no CDN. The three libraries it uses (Preact, htm, uPlot) are installed with `npm ci` (exact
# versions and integrity hashes from the lockfile) and their ES-module builds and licence files
# are copied into console/ui/static/vendor/, which is committed. Re-run after changing
# package.json; `--check` exits 1 if the committed files differ from a fresh install (CI).
set -euo pipefail
cd "$(dirname "$0")/../console/ui"

check=0
if [ "${1:-}" = "--check" ]; then check=1; fi

npm ci --no-audit --no-fund --ignore-scripts --loglevel=error

out=static/vendor
if [ "$check" = 1 ]; then out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT; fi
mkdir -p "$out"

m=node_modules
cp "$m/preact/dist/preact.module.js" "$out/preact.module.js"
cp "$m/preact/hooks/dist/hooks.module.js" "$out/preact-hooks.module.js"
cp "$m/preact/LICENSE" "$out/LICENSE.preact"
cp "$m/htm/dist/htm.module.js" "$out/htm.module.js"
cp "$m/htm/LICENSE" "$out/LICENSE.htm"
cp "$m/uplot/dist/uPlot.esm.js" "$out/uPlot.esm.js"
cp "$m/uplot/dist/uPlot.min.css" "$out/uPlot.min.css"
cp "$m/uplot/LICENSE" "$out/LICENSE.uplot"
node -e 'const l=require("./package-lock.json");const p=l.packages;console.log(JSON.stringify(Object.fromEntries(Object.entries(p).filter(([k])=>k).map(([k,v])=>[k.replace("node_modules/",""),{version:v.version,integrity:v.integrity}])),null,2))' > "$out/VERSIONS.json"

if [ "$check" = 1 ]; then
    diff -r "$out" static/vendor && echo "build-ui: vendored files match the lockfile"
else
    echo "build-ui: vendored $(ls "$out" | wc -l) files into console/ui/$out"
fi
