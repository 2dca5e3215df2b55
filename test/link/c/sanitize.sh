#!/usr/bin/env bash
# Runs the C backend's agreement and support tests with every generated module built with
# -fsanitize=address,undefined (flag cmodule.sanitize). An ASan-instrumented shared object can
# only be loaded into a process whose first library is the ASan runtime, so node runs with
# LD_PRELOAD=libasan; leak detection is off (node itself is not instrumented and keeps memory
# until exit), and UBSan aborts on the first report so any finding fails the run.
# Usage: test/link/c/sanitize.sh [vitest args]   (CC selects the compiler, default: cc)
set -euo pipefail
cd "$(dirname "$0")/../../.."
CC="${CC:-cc}"
ASAN_LIB="$("$CC" -print-file-name=libasan.so)"
if [ ! -e "$ASAN_LIB" ]; then
  echo "sanitize.sh: $CC has no libasan.so ($ASAN_LIB); install the compiler's sanitizer runtime (e.g. libasan8)" >&2
  exit 1
fi
# A compiledir of its own: instrumented modules never mix with the normal cache.
DIR="${THEANO_TS_SANITIZE_DIR:-${TMPDIR:-/tmp}/theano-ts-sanitize-$(id -u)}"
mkdir -p "$DIR" && chmod 700 "$DIR"
# -O1, the level ASan is meant for: the instrumented -O3 builds of the big agreement modules took
# minutes each on a loaded 2-core machine, long enough to time out vitest's worker RPC.
export THEANO_FLAGS="cmodule.sanitize=True,gcc.cxxflags=-O1,cxx=$CC,compiledir=$DIR${THEANO_FLAGS:+,$THEANO_FLAGS}"
export LD_PRELOAD="$ASAN_LIB${LD_PRELOAD:+ $LD_PRELOAD}"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
THEANO_TS_NAMED_TESTS=1 exec npx vitest run test/link/c/agreement.test.ts test/link/c/agreement_elemwise.test.ts test/link/c/support.test.ts test/link/c/host_ops.test.ts test/link/c/borrow.test.ts test/link/c/inplace.test.ts test/link/c/threads.test.ts test/link/c/fuzz_fixes.test.ts test/link/c/ops_subtensor.test.ts test/compile/input_safety.test.ts test/link/c/unload.test.ts test/compile/free.test.ts test/link/c/ops_conv.test.ts test/link/c/ops_math.test.ts test/scan/native_loop.test.ts test/link/c/intermediate_reuse.test.ts "$@"
