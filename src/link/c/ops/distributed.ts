/**
 * The C generator of the distributed family (src/distributed/ops.ts): `AllReduce` runs inside
 * the generated module, so a training step whose gradients are all-reduced stays one C segment
 * (issue 19: "the C backend calls MPI directly from the generated module").
 *
 * The module does not include mpi.h: its source, and so its compile-cache key, is the same with
 * any MPI installation or none. It gets MPI's functions and handles at load time, as a table of
 * addresses that `MpiWorld.cTable` builds from the symbols it already looks up (`th_set_mpi`,
 * called by the linker through the module part below), together with the watch's shared state
 * (`MpiWorld.state`). The C code is the host path's twin (mpi.ts `agree` + `collective`): the
 * agreement all-gather of [count, signature], then MPI_Iallreduce in pieces of MAX_COUNT
 * elements, each completed by a loop of MPI_Test that reads exit notices, checks that peer
 * processes on this host live (kill(pid, 0)) and keeps a deadline; the collective count is the
 * one the host path counts in. A failure leaves its reason in the state and returns the node's
 * `partError` code; `MpiWorld.cFailure` turns it into the error the host path raises, with the
 * same words, and marks the world broken as that does. Same MPI calls in the same order as the
 * host path, and the mean divided as perform divides: the same bits.
 *
 * Used when `theano.distributed.init()` ran before the function was compiled and
 * `distributed.c_collectives` is on; otherwise the node runs its `perform` on the host.
 */

import { config } from "../../../config/index.js";
import type { Apply } from "../../../graph/basic.js";
import type { DType } from "../../../ndarray/dtype.js";
import { AllReduce } from "../../../distributed/ops.js";
import { C_FUNCTIONS, DTYPE_ORDER, FAIL, MAX_COUNT, NOTICE_TAG, PEER_FIELDS, REDUCTIONS, STATE, agreementBase, currentWorld, fnv1a, requireWorld } from "../../../distributed/mpi.js";
import type { TensorType } from "../../../tensor/type.js";
import { ERR_LEN, type ModulePart, type SegmentWriter, contiguousStrides, ctype, partError, registerCGenerator, sq } from "../codegen.js";

/** Table slots (MpiWorld.cTable's order). */
const SLOT = {
  ...Object.fromEntries(C_FUNCTIONS.map((f, i) => [f, i])),
  comm: C_FUNCTIONS.length,
  double: C_FUNCTIONS.length + 1,
  inPlace: C_FUNCTIONS.length + 2,
  ops: C_FUNCTIONS.length + 3,
  dtypes: C_FUNCTIONS.length + 3 + REDUCTIONS.length,
} as Record<(typeof C_FUNCTIONS)[number] | "comm" | "double" | "inPlace" | "ops" | "dtypes", number>;
const TABLE_SIZE = SLOT.dtypes + DTYPE_ORDER.length;

const DEFINITIONS = `/* MPI called from the module (src/link/c/ops/distributed.ts): MpiWorld's table and state arrive by th_set_mpi */
#include <time.h>
#include <signal.h>
#include <errno.h>
#include <sys/types.h>
typedef int (*th_mpi_iallreduce_t)(const void *send, void *recv, int count, intptr_t dtype, intptr_t op, intptr_t comm, void *req);
typedef int (*th_mpi_iallgather_t)(const void *send, int scount, intptr_t stype, void *recv, int rcount, intptr_t rtype, intptr_t comm, void *req);
typedef int (*th_mpi_test_t)(void *req, int *flag, void *status);
typedef int (*th_mpi_iprobe_t)(int source, int tag, intptr_t comm, int *flag, void *status);
typedef int (*th_mpi_recv_t)(void *buf, int count, intptr_t dtype, int source, int tag, intptr_t comm, void *status);
static int64_t th_mpi_tab[${TABLE_SIZE}];
static double *th_mpi_st;
__attribute__((visibility("default"))) void th_set_mpi(const int64_t *table, double *state) {
  memcpy(th_mpi_tab, table, sizeof th_mpi_tab);
  th_mpi_st = state;
}
static double th_mpi_clock(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9; }
static int th_mpi_fail(int kind, double detail, double at) {
  th_mpi_st[${STATE.failKind}] = kind; th_mpi_st[${STATE.failDetail}] = detail; th_mpi_st[${STATE.failAt}] = at; th_mpi_st[${STATE.failInAgreement}] = 0;
  return -1;
}
/* Completes *req (collective number k) while watching the other ranks: MpiWorld.collective's loop. */
static int th_mpi_wait(void *req, double k) {
  double *st = th_mpi_st;
  const int size = (int)st[${STATE.size}], rank = (int)st[${STATE.rank}];
  const intptr_t comm = (intptr_t)th_mpi_tab[${SLOT.comm}], dbl = (intptr_t)th_mpi_tab[${SLOT.double}];
  const double t0 = th_mpi_clock(), timeout = st[${STATE.timeoutS}];
  double next_notice = t0, next_pid = t0 + 0.1;
  int64_t status[8];
  for (unsigned spin = 1;; spin++) {
    int flag = 0;
    int c = ((th_mpi_test_t)th_mpi_tab[${SLOT.MPI_Test}])(req, &flag, status);
    if (c) return th_mpi_fail(${FAIL.mpiError}, c, k);
    if (flag) return 0;
    /* the clock is read every 32 tests: the loop is MPI's progress engine, kept tight */
    if (spin & 31) continue;
    const double now = th_mpi_clock();
    if (now >= next_notice) {
      for (;;) {
        int any = 0;
        c = ((th_mpi_iprobe_t)th_mpi_tab[${SLOT.MPI_Iprobe}])(-1, ${NOTICE_TAG}, comm, &any, status);
        if (c) return th_mpi_fail(${FAIL.mpiError}, c, k);
        if (!any) break;
        int source; memcpy(&source, status, sizeof source); /* MPI_SOURCE, the status's first int */
        double msg[2];
        c = ((th_mpi_recv_t)th_mpi_tab[${SLOT.MPI_Recv}])(msg, 2, dbl, source, ${NOTICE_TAG}, comm, status);
        if (c) return th_mpi_fail(${FAIL.mpiError}, c, k);
        if (source >= 0 && source < size) { st[${STATE.peers} + ${PEER_FIELDS} * source + 2] = msg[0]; st[${STATE.peers} + ${PEER_FIELDS} * source + 3] = msg[1]; }
      }
      for (int r = 0; r < size; r++) {
        const double n = st[${STATE.peers} + ${PEER_FIELDS} * r + 2];
        if (n >= 0 && n < k) return th_mpi_fail(${FAIL.departed}, r, k);
      }
      next_notice = now + 0.002;
    }
    if (now >= next_pid) {
      for (int r = 0; r < size; r++) {
        const double *p = st + ${STATE.peers} + ${PEER_FIELDS} * r;
        if (r != rank && p[1] != 0 && p[2] < 0 && kill((pid_t)p[0], 0) != 0 && errno != EPERM) return th_mpi_fail(${FAIL.gone}, r, k);
      }
      next_pid = now + 0.1;
    }
    if (now - t0 > timeout) return th_mpi_fail(${FAIL.timeout}, 0, k);
  }
}
/* MpiWorld.allReduce (agreement, then the pieces), and for a mean the division perform does. */
TH_UNIT_FN int th_mpi_allreduce(const void *send, void *recv, int64_t count, int es, int dtype, int op, double signature, int mean_dtype) {
  double *st = th_mpi_st;
  if (!st || st[${STATE.broken}] != 0) { if (st) th_mpi_fail(${FAIL.broken}, 0, 0); return -1; }
  const int size = (int)st[${STATE.size}], rank = (int)st[${STATE.rank}];
  const intptr_t comm = (intptr_t)th_mpi_tab[${SLOT.comm}], dbl = (intptr_t)th_mpi_tab[${SLOT.double}];
  int c;
  if (size > 1) {
    const double mine[2] = { (double)count, signature };
    double *all = st + ${agreementBase(0)} + ${PEER_FIELDS} * size;
    const double k = ++st[${STATE.collectives}];
    int64_t req = 0;
    c = ((th_mpi_iallgather_t)th_mpi_tab[${SLOT.MPI_Iallgather}])(mine, 2, dbl, all, 2, dbl, comm, &req);
    if (c || th_mpi_wait(&req, k)) { if (c) th_mpi_fail(${FAIL.mpiError}, c, k); st[${STATE.failInAgreement}] = 1; return -1; }
    for (int r = 0; r < size; r++) if (all[2 * r] != mine[0] || all[2 * r + 1] != mine[1]) return th_mpi_fail(${FAIL.disagree}, 0, k);
  }
  (void)rank;
  const intptr_t dt = (intptr_t)th_mpi_tab[${SLOT.dtypes} + dtype], o = (intptr_t)th_mpi_tab[${SLOT.ops} + op];
  for (int64_t at = 0; at == 0 || at < count; at += ${MAX_COUNT}) {
    const int n = (int)(count - at < ${MAX_COUNT} ? count - at : ${MAX_COUNT});
    const double k = ++st[${STATE.collectives}];
    int64_t req = 0;
    char *r = (char *)recv + at * es;
    c = send ? ((th_mpi_iallreduce_t)th_mpi_tab[${SLOT.MPI_Iallreduce}])((const char *)send + at * es, r, n, dt, o, comm, &req)
             : ((th_mpi_iallreduce_t)th_mpi_tab[${SLOT.MPI_Iallreduce}])((const void *)(intptr_t)th_mpi_tab[${SLOT.inPlace}], r, n, dt, o, comm, &req);
    if (c) return th_mpi_fail(${FAIL.mpiError}, c, k);
    if (th_mpi_wait(&req, k)) return -1;
  }
  /* perform's mean: each element divided in double, a float32 rounded once by the store */
  if (mean_dtype == 1) { float *y = (float *)recv; for (int64_t i = 0; i < count; i++) y[i] = (float)((double)y[i] / (double)size); }
  if (mean_dtype == 2) { double *y = (double *)recv; for (int64_t i = 0; i < count; i++) y[i] = y[i] / (double)size; }
  return 0;
}`;

const MPI_PART: ModulePart = {
  name: "mpi",
  declarations: `TH_UNIT_FN int th_mpi_allreduce(const void *send, void *recv, int64_t count, int es, int dtype, int op, double signature, int mean_dtype);`,
  definitions: DEFINITIONS,
  load(library) {
    const w = requireWorld("a compiled allReduce");
    library.func("void th_set_mpi(void *table, void *state)")(w.cTable(), w.state);
  },
  error(_node: Apply, what: string): Error {
    return requireWorld("a compiled allReduce").cFailure(what);
  },
};

registerCGenerator({
  matches: (node: Apply): boolean => node.op instanceof AllReduce && currentWorld() !== null && config.distributed.c_collectives,
  generate(w: SegmentWriter, node: Apply, k: number): boolean {
    const op = node.op as AllReduce;
    const xv = node.inputs[0]!;
    const dtype: DType = (xv.type as TensorType).dtype;
    const nd = (xv.type as TensorType).ndim;
    const x = w.name(xv);
    const o = w.name(node.outputs[0]!);
    const T = ctype(dtype);
    w.use(MPI_PART, node);
    const sh: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
    for (let d = 0; d < nd; d++) sh.push(`  ${o}_n[${d}] = ${x}_n[${d}];`);
    sh.push(`  ${contiguousStrides(o, nd, k, sq(String(op)))}`, `}`);
    w.shape.push(sh.join("\n"));
    // perform's name of the collective, for the error: `allReduce{sum} of shape [3, 4] float32`
    const shapeText = nd === 0 ? `""` : `sx`;
    const listShape = nd === 0 ? "" : `char sx[160]; size_t e = 0; sx[0] = 0; for (int i = 0; i < ${nd} && e < sizeof sx; i++) e += (size_t)snprintf(sx + e, sizeof sx - e, i ? ", %lld" : "%lld", (long long)${x}_n[i]); `;
    const mean = op.op === "mean" ? (dtype === "float32" ? 1 : 2) : 0;
    const reduction = REDUCTIONS.indexOf(op.op === "mean" ? "sum" : op.op);
    w.run.push(
      [
        `{ /* node ${k}: ${sq(node.toString())} */`,
        `  const int64_t n = th_size(${nd}, ${x}_n);`,
        // a strided input is gathered into the output, then reduced there in place
        `  int contiguous = 1; int64_t step = 1;`,
        `  for (int d = ${nd - 1}; d >= 0; d--) { if (${x}_n[d] != 1 && ${x}_s[d] != step) contiguous = 0; step *= ${x}_n[d]; }`,
        `  if (!contiguous) th_copy_strided(sizeof(${T}), ${nd}, ${x}_n, ${x}_s, ${x}, ${o});`,
        `  if (th_mpi_allreduce(contiguous ? (const void *)${x} : NULL, ${o}, n, (int)sizeof(${T}), ${DTYPE_ORDER.indexOf(dtype)}, ${reduction}, ${fnv1a(`allReduce ${op.op === "mean" ? "sum" : op.op} ${dtype}`)}.0, ${mean}) != 0) {`,
        `    ${listShape}snprintf(err, ${ERR_LEN}, "allReduce{${op.op}} of shape [%s] ${dtype}", ${shapeText});`,
        `    ${partError(k)}`,
        `  }`,
        `}`,
      ].join("\n"),
    );
    return false;
  },
});
