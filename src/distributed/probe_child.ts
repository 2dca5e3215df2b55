/**
 * The child process of `probeInit` (mpi.ts; `theano-ts check`): finds the MPI library as
 * `init()` would (`MPI_FOUND {...}`, probeMpi's report), initialises MPI with it as a singleton
 * and prints the thread level granted (`MPI_INIT {"threadLevel": ...}`); MPI is finalised at
 * exit as after any `init()`.
 */
import { initWorld, probeMpi } from "./mpi.js";

const found = probeMpi();
console.log(`MPI_FOUND ${JSON.stringify(found)}`);
if (found.library && !found.problem) {
  const w = initWorld({ library: found.library, timeoutS: 10 });
  console.log(`MPI_INIT ${JSON.stringify({ threadLevel: w.threadLevel })}`);
}
