#!/usr/bin/env bash
# Runs every example of examples/ in its short mode (issue 17.3). Each exits non-zero unless its
# training loss dropped (examples/util.ts checkLossDropped), or, for shape_error.ts, unless the
# errors it provokes are the documented ones. Output is kept: it is what the CI log shows.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

examples=(logistic_regression mlp lenet denoising_autoencoder rbm char_rnn)
for name in "${examples[@]}"; do
  echo "== examples/${name}.ts --quick"
  npx tsx "examples/${name}.ts" --quick
done
echo "== examples/shape_error.ts"
npx tsx examples/shape_error.ts
echo "all ${#examples[@]} training examples and shape_error.ts passed"
