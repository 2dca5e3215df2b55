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
# Data-parallel training on 2 processes, where Open MPI is installed (.ci/run installs it).
if command -v mpirun >/dev/null 2>&1; then
  echo "== mpirun -np 2 examples/distributed_mnist.ts --quick"
  mpirun -np 2 --oversubscribe $([ "$(id -u)" = 0 ] && echo --allow-run-as-root) npx tsx examples/distributed_mnist.ts --quick
else
  echo "== examples/distributed_mnist.ts: no mpirun here (apt-get install openmpi-bin libopenmpi-dev), skipped"
fi
echo "== examples/shape_error.ts"
npx tsx examples/shape_error.ts
echo "all ${#examples[@]} training examples and shape_error.ts passed"
