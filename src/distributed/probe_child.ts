/**
 * The child process of `probeInit` (mpi.ts; `theano-ts check`): initialises MPI as a singleton
 * with the library named in argv[2] and prints `MPI_PROBE {library, abi, version, threadLevel}`;
 * MPI is finalised at exit as after any `init()`.
 */
import { initWorld } from "./mpi.js";

const w = initWorld({ library: process.argv[2], timeoutS: 10 });
console.log(`MPI_PROBE ${JSON.stringify({ library: w.library, abi: w.abi.name, version: w.version, threadLevel: w.threadLevel })}`);
