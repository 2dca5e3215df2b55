/**
 * What a waiting rank costs the others (issue 19: the MPI_Test loop yields the core): the last
 * rank computes alone (a fixed JS loop, `work` million steps) while every other rank waits for
 * it in a barrier, `runs` times. Prints on rank 0 the median time of a round (the working
 * rank's loop plus the barrier) and the CPU seconds the waiting rank 0 spent per second of
 * waiting; again with the wait in a compiled `allReduce` (on the C linker: the generated module's
 * loop). With more ranks than cores (`--oversubscribe`) a waiter that spins takes cores from
 * the working rank; one that yields gives them back. Then the latency of a small all-reduce
 * (8 float32, `smallRuns` times), which yielding must not slow:
 *   mpirun -np 2 node --import tsx bench/mpi/wait.ts [work=60] [runs=5] [smallRuns=1000]
 *   taskset -c 0 mpirun --bind-to none -np 2 node --import tsx bench/mpi/wait.ts   (both ranks on one core)
 */
import * as theano from "../../src/index.js";
import { requireWorld } from "../../src/distributed/mpi.js";

const D = theano.distributed;
D.init();
const work = Number(process.argv[2] ?? 60);
const runs = Number(process.argv[3] ?? 5);
const smallRuns = Number(process.argv[4] ?? 1000);
const w = requireWorld("bench");

let sink = 0;
function compute(): void {
  let s = 0;
  for (let i = 0; i < work * 1e6; i++) s = (s + i * 1e-9) % 1;
  sink += s;
}

/** Median round and rank 0's CPU seconds per second, the waiters waiting in `wait`. */
function rounds(wait: () => void): [number, number] {
  const times: number[] = [];
  let cpu = 0;
  let waited = 0;
  for (let r = -1; r < runs; r++) {
    D.barrier();
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    if (D.rank === D.size - 1) compute();
    wait();
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    if (r >= 0) {
      times.push(ms);
      waited += ms;
      cpu += (c.user + c.system) / 1e3;
    }
  }
  return [times.sort((a, b) => a - b)[Math.floor(runs / 2)]!, cpu / waited];
}
const host = rounds(() => D.barrier());
// the same wait inside a compiled all-reduce: on the C linker, the MPI_Test loop of the generated module
const xv = theano.T.vector("x", "float32");
const f = theano.function([xv], D.allReduce(xv, "sum"));
const inC = f.fgraph.toposort().some((n) => n.op instanceof D.AllReduce && n.tag.backend === "c");
const one = new theano.NDArray("float32", [8], new Float32Array(8));
const compiled = rounds(() => f(one));
const x = new Float32Array(8).fill(D.rank);
const y = new Float32Array(8);
for (let i = 0; i < 50; i++) w.allReduce(x, y, "float32", "sum", "bench");
D.barrier();
const t0 = performance.now();
for (let i = 0; i < smallRuns; i++) w.allReduce(x, y, "float32", "sum", "bench");
const us = ((performance.now() - t0) / smallRuns) * 1e3;
if (D.rank === 0) {
  console.log(
    `${D.size} processes, rank ${D.size - 1} computing ${work}M steps a round: the others waiting in a barrier: median round ${host[0].toFixed(0)} ms, rank 0 using ${host[1].toFixed(2)} CPU s/s; ` +
      `in a compiled allReduce (${inC ? "in the C module" : "on the host"}): ${compiled[0].toFixed(0)} ms, ${compiled[1].toFixed(2)} CPU s/s; 8-float all-reduce ${us.toFixed(1)} us (mean of ${smallRuns})${sink > -1 ? "" : "!"}`,
  );
}
