/**
 * All-reduce bandwidth of theano.distributed against plain C (issue 19): a float32 buffer of
 * `MB` megabytes summed over the ranks, median of `runs` after two warm-ups, (1) by the host
 * collective behind the AllReduce op (MPI_Iallreduce completed by the MPI_Test loop that watches
 * the other ranks), (2) by a compiled `theano.function` of `allReduce(x)` (that plus the fresh
 * output). Run with the C baseline beside it:
 *   mpicc -O2 bench/mpi/allreduce.c -o /tmp/mpi_allreduce
 *   mpirun -np 2 /tmp/mpi_allreduce 100 10; mpirun -np 2 node --import tsx bench/mpi/allreduce.ts 100 10
 */
import * as theano from "../../src/index.js";
import { requireWorld } from "../../src/distributed/mpi.js";

const D = theano.distributed;
D.init();
const mb = Number(process.argv[2] ?? 100);
const runs = Number(process.argv[3] ?? 10);
const n = Math.floor((mb * 1e6) / 4);
const x = new Float32Array(n);
for (let i = 0; i < n; i++) x[i] = (i % 1000) * 0.001 + D.rank;
const y = new Float32Array(n);
const w = requireWorld("bench");

function median(f: () => void): number {
  const t: number[] = [];
  for (let r = -2; r < runs; r++) {
    D.barrier();
    const t0 = performance.now();
    f();
    if (r >= 0) t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
}

const host = median(() => w.allReduce(x, y, "float32", "sum", "bench"));
const xv = theano.T.vector("x", "float32");
const f = theano.function([xv], D.allReduce(xv, "sum"));
const xa = new theano.NDArray("float32", [n], x);
const op = median(() => f(xa));
if (D.rank === 0) {
  for (const [name, ms] of [["host collective", host], ["compiled allReduce", op]] as const) {
    console.log(`theano-ts ${name.padEnd(19)} ${D.size} processes, ${mb} MB float32: median ${ms.toFixed(1)} ms, ${(mb / 1e3 / (ms / 1e3)).toFixed(2)} GB/s (buffer bytes / time)`);
  }
}
