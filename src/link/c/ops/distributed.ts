/**
 * The C generators of the distributed family (src/distributed/ops.ts): `AllReduce` and
 * `AllGather` run inside the generated module, so a training step whose gradients are
 * all-reduced stays one C segment (issue 19: "the C backend calls MPI directly from the
 * generated module").
 *
 * The module does not include mpi.h: its source, and so its compile-cache key, is the same with
 * any MPI installation or none, Open MPI's or MPICH's ABI. It gets MPI's functions and handles at
 * load time, as a table that `MpiWorld.cTable` builds (`th_set_mpi`, called by the linker
 * through the module part below), together with the watch's shared state (`MpiWorld.state`).
 * The table says whether handles are ints (MPICH) or addresses (Open MPI), and each call goes
 * through the matching prototype; it holds MPI_ANY_SOURCE and where MPI_Status keeps the
 * source, which differ too. The C code is the host path's twin (mpi.ts `agree` + `collective`):
 * the agreement all-gather of [count, signature], then MPI_Iallreduce in pieces of MAX_COUNT
 * elements (or one MPI_Iallgather), each completed by a loop of MPI_Test that reads exit
 * notices, checks that peer processes on this host live (not gone, not zombies) and keeps a
 * deadline; the collective count is the
 * one the host path counts in. A failure leaves its reason in the state and returns the node's
 * `partError` code; `MpiWorld.cFailure` turns it into the error the host path raises, with the
 * same words, and marks the world broken as that does. Same MPI calls in the same order as the
 * host path, and the mean divided as perform divides: the same bits.
 *
 * Used when `theano.distributed.init()` ran before the function was compiled and
 * `distributed.c_collectives` is on; otherwise the node runs its `perform` on the host. A
 * waiting rank yields its core after SPINS_BEFORE_YIELD tests (sched_yield), as the host does.
 */

import { config } from "../../../config/index.js";
import type { Apply } from "../../../graph/basic.js";
import type { DType } from "../../../ndarray/dtype.js";
import { AllGather, AllReduce } from "../../../distributed/ops.js";
import { C_CONSTANTS, C_FUNCTIONS, DTYPE_ORDER, FAIL, MAX_COUNT, NOTICE_TAG, NOTICE_WORDS, PEER_FIELDS, REDUCTIONS, SPINS_BEFORE_YIELD, STATE, agreementBase, currentWorld, fnv1a, requireWorld } from "../../../distributed/mpi.js";
import type { TensorType } from "../../../tensor/type.js";
import { ERR_LEN, type ModulePart, type SegmentWriter, contiguousStrides, ctype, partError, registerCGenerator, sq } from "../codegen.js";

/** Table slots (MpiWorld.cTable's order). */
const SLOT = {
  ...Object.fromEntries([...C_FUNCTIONS, ...C_CONSTANTS].map((f, i) => [f, i])),
  comm: C_FUNCTIONS.length + C_CONSTANTS.length,
  double: C_FUNCTIONS.length + C_CONSTANTS.length + 1,
  inPlace: C_FUNCTIONS.length + C_CONSTANTS.length + 2,
  ops: C_FUNCTIONS.length + C_CONSTANTS.length + 3,
  dtypes: C_FUNCTIONS.length + C_CONSTANTS.length + 3 + REDUCTIONS.length,
} as Record<(typeof C_FUNCTIONS)[number] | (typeof C_CONSTANTS)[number] | "comm" | "double" | "inPlace" | "ops" | "dtypes", number>;
const TABLE_SIZE = SLOT.dtypes + DTYPE_ORDER.length;

/** A call of the MPI function in `slot` through the ABI's prototype: `P` with `intptr_t` handles (Open MPI), `I` with `int` ones (MPICH). */
const call = (slot: (typeof C_FUNCTIONS)[number], args: string): string =>
  `(th_mpi_tab[${SLOT.intHandles}] ? ((th_${slot.slice(4).toLowerCase()}_i)(intptr_t)th_mpi_tab[${SLOT[slot]}])(${args}) : ((th_${slot.slice(4).toLowerCase()}_p)(intptr_t)th_mpi_tab[${SLOT[slot]}])(${args}))`;

const DEFINITIONS = `/* MPI called from the module (src/link/c/ops/distributed.ts): MpiWorld's table and state arrive by th_set_mpi */
#include <time.h>
#include <sched.h>
#include <signal.h>
#include <errno.h>
#include <sys/types.h>
#include <stdio.h>
#include <string.h>
/* Each function twice: with Open MPI's handles (addresses: intptr_t) and MPICH's (int); the table says which. */
typedef int (*th_iallreduce_p)(const void *send, void *recv, int count, intptr_t dtype, intptr_t op, intptr_t comm, void *req);
typedef int (*th_iallreduce_i)(const void *send, void *recv, int count, int dtype, int op, int comm, void *req);
typedef int (*th_iallgather_p)(const void *send, int scount, intptr_t stype, void *recv, int rcount, intptr_t rtype, intptr_t comm, void *req);
typedef int (*th_iallgather_i)(const void *send, int scount, int stype, void *recv, int rcount, int rtype, int comm, void *req);
typedef int (*th_test_p)(void *req, int *flag, void *status);
typedef th_test_p th_test_i;
typedef int (*th_iprobe_p)(int source, int tag, intptr_t comm, int *flag, void *status);
typedef int (*th_iprobe_i)(int source, int tag, int comm, int *flag, void *status);
typedef int (*th_recv_p)(void *buf, int count, intptr_t dtype, int source, int tag, intptr_t comm, void *status);
typedef int (*th_recv_i)(void *buf, int count, int dtype, int source, int tag, int comm, void *status);
static int64_t th_mpi_tab[${TABLE_SIZE}];
static double *th_mpi_st;
__attribute__((visibility("default"))) void th_set_mpi(const int64_t *table, double *state) {
  memcpy(th_mpi_tab, table, sizeof th_mpi_tab);
  th_mpi_st = state;
}
TH_UNIT_FN int64_t th_mpi_size(void) { return th_mpi_st ? (int64_t)th_mpi_st[${STATE.size}] : 1; }
static double th_mpi_clock(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9; }
static int th_mpi_fail(int kind, double detail, double at) {
  th_mpi_st[${STATE.failKind}] = kind; th_mpi_st[${STATE.failDetail}] = detail; th_mpi_st[${STATE.failAt}] = at; th_mpi_st[${STATE.failInAgreement}] = 0;
  return -1;
}
/* mpi.ts alive(), negated: no such process, or a zombie (its /proc stat's state, after the command's last ')', is Z or X) */
static int th_mpi_gone(pid_t pid) {
  if (kill(pid, 0) != 0) return errno != EPERM;
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char *p = strrchr(buf, ')');
  return p && p[1] && (p[2] == 'Z' || p[2] == 'X');
}
/* Completes *req (collective number k) while watching the other ranks: MpiWorld.collective's loop. */
static int th_mpi_wait(void *req, double k) {
  double *st = th_mpi_st;
  const int size = (int)st[${STATE.size}], rank = (int)st[${STATE.rank}];
  const intptr_t comm = (intptr_t)th_mpi_tab[${SLOT.comm}], dbl = (intptr_t)th_mpi_tab[${SLOT.double}];
  const int any_source = (int)th_mpi_tab[${SLOT.anySource}], source_at = (int)th_mpi_tab[${SLOT.statusSource}];
  const double t0 = th_mpi_clock(), timeout = st[${STATE.timeoutS}];
  double next_notice = t0, next_pid = t0 + 0.1;
  int64_t status[8];
  for (unsigned spin = 1;; spin++) {
    int flag = 0;
    int c = ${call("MPI_Test", "req, &flag, status")};
    if (c) return th_mpi_fail(${FAIL.mpiError}, c, k);
    if (flag) return 0;
    /* a wait that lasts gives the core to whoever else wants it (MpiWorld.collective does the same) */
    if (spin > ${SPINS_BEFORE_YIELD}) sched_yield();
    /* the clock is read every 32 tests: the loop is MPI's progress engine, kept tight */
    if (spin & 31) continue;
    const double now = th_mpi_clock();
    if (now >= next_notice) {
      for (;;) {
        int any = 0;
        c = ${call("MPI_Iprobe", `any_source, ${NOTICE_TAG}, comm, &any, status`)};
        if (c) return th_mpi_fail(${FAIL.mpiError}, c, k);
        if (!any) break;
        int source; memcpy(&source, (const char *)status + source_at, sizeof source); /* the status's MPI_SOURCE */
        double msg[${NOTICE_WORDS}];
        c = ${call("MPI_Recv", `msg, ${NOTICE_WORDS}, dbl, source, ${NOTICE_TAG}, comm, status`)};
        if (c) return th_mpi_fail(${FAIL.mpiError}, c, k);
        if (source >= 0 && source < size) memcpy(st + ${STATE.peers} + ${PEER_FIELDS} * source + 2, msg, sizeof msg);
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
        if (r != rank && p[1] != 0 && p[2] < 0 && th_mpi_gone((pid_t)p[0])) return th_mpi_fail(${FAIL.gone}, r, k);
      }
      next_pid = now + 0.1;
    }
    if (now - t0 > timeout) return th_mpi_fail(${FAIL.timeout}, 0, k);
  }
}
/* The start of every collective: the world usable, then MpiWorld.agree (every rank's [count, signature] all-gathered). */
static int th_mpi_begin(int64_t count, double signature) {
  double *st = th_mpi_st;
  if (!st || st[${STATE.broken}] != 0) { if (st) th_mpi_fail(${FAIL.broken}, 0, 0); return -1; }
  const int size = (int)st[${STATE.size}];
  if (size == 1) return 0;
  const intptr_t comm = (intptr_t)th_mpi_tab[${SLOT.comm}], dbl = (intptr_t)th_mpi_tab[${SLOT.double}];
  const double mine[2] = { (double)count, signature };
  double *all = st + ${agreementBase(0)} + ${PEER_FIELDS} * size;
  const double k = ++st[${STATE.collectives}];
  int64_t req = 0;
  int c = ${call("MPI_Iallgather", "mine, 2, dbl, all, 2, dbl, comm, &req")};
  if (c || th_mpi_wait(&req, k)) { if (c) th_mpi_fail(${FAIL.mpiError}, c, k); st[${STATE.failInAgreement}] = 1; return -1; }
  for (int r = 0; r < size; r++) if (all[2 * r] != mine[0] || all[2 * r + 1] != mine[1]) return th_mpi_fail(${FAIL.disagree}, 0, k);
  return 0;
}
/* MpiWorld.allReduce (agreement, then the pieces), and for a mean the division perform does. */
TH_UNIT_FN int th_mpi_allreduce(const void *send, void *recv, int64_t count, int es, int dtype, int op, double signature, int mean_dtype) {
  if (th_mpi_begin(count, signature)) return -1;
  double *st = th_mpi_st;
  const int size = (int)st[${STATE.size}];
  const intptr_t comm = (intptr_t)th_mpi_tab[${SLOT.comm}];
  const intptr_t dt = (intptr_t)th_mpi_tab[${SLOT.dtypes} + dtype], o = (intptr_t)th_mpi_tab[${SLOT.ops} + op];
  for (int64_t at = 0; at == 0 || at < count; at += ${MAX_COUNT}) {
    const int n = (int)(count - at < ${MAX_COUNT} ? count - at : ${MAX_COUNT});
    const double k = ++st[${STATE.collectives}];
    int64_t req = 0;
    char *r = (char *)recv + at * es;
    const void *s = send ? (const void *)((const char *)send + at * es) : (const void *)(intptr_t)th_mpi_tab[${SLOT.inPlace}];
    int c = ${call("MPI_Iallreduce", "s, r, n, dt, o, comm, &req")};
    if (c) return th_mpi_fail(${FAIL.mpiError}, c, k);
    if (th_mpi_wait(&req, k)) return -1;
  }
  /* perform's mean: each element divided in double, a float32 rounded once by the store */
  if (mean_dtype == 1) { float *y = (float *)recv; for (int64_t i = 0; i < count; i++) y[i] = (float)((double)y[i] / (double)size); }
  if (mean_dtype == 2) { double *y = (double *)recv; for (int64_t i = 0; i < count; i++) y[i] = y[i] / (double)size; }
  return 0;
}
/* MpiWorld.allGather: every rank's count elements of send into recv, in rank order. */
TH_UNIT_FN int th_mpi_allgather(const void *send, void *recv, int64_t count, int dtype, double signature) {
  if (th_mpi_begin(count, signature)) return -1;
  double *st = th_mpi_st;
  if (count > ${MAX_COUNT}) return th_mpi_fail(${FAIL.tooLarge}, (double)count, st[${STATE.collectives}]);
  const intptr_t comm = (intptr_t)th_mpi_tab[${SLOT.comm}], dt = (intptr_t)th_mpi_tab[${SLOT.dtypes} + dtype];
  const double k = ++st[${STATE.collectives}];
  int64_t req = 0;
  int c = ${call("MPI_Iallgather", "send, (int)count, dt, recv, (int)count, dt, comm, &req")};
  if (c) return th_mpi_fail(${FAIL.mpiError}, c, k);
  return th_mpi_wait(&req, k) ? -1 : 0;
}`;

const MPI_PART: ModulePart = {
  name: "mpi",
  declarations: [
    `TH_UNIT_FN int th_mpi_allreduce(const void *send, void *recv, int64_t count, int es, int dtype, int op, double signature, int mean_dtype);`,
    `TH_UNIT_FN int th_mpi_allgather(const void *send, void *recv, int64_t count, int dtype, double signature);`,
    `TH_UNIT_FN int64_t th_mpi_size(void);`,
  ].join("\n"),
  definitions: DEFINITIONS,
  load(library) {
    const w = requireWorld("a compiled collective");
    library.func("void th_set_mpi(void *table, void *state)")(w.cTable(), w.state);
  },
  error(_node: Apply, what: string): Error {
    return requireWorld("a compiled collective").cFailure(what);
  },
};

/**
 * What both collectives' generators start with: the module's MPI part, and the output's shape
 * block (`dim(x, d)` is the C expression of output dimension d from the input's sizes `x_n`),
 * contiguous strides included. Returns the input's and output's C names, dtype, rank and C type.
 */
function collectivePrologue(w: SegmentWriter, node: Apply, k: number, dim: (x: string, d: number) => string): { x: string; o: string; dtype: DType; nd: number; T: string } {
  const xv = node.inputs[0]!;
  const dtype: DType = (xv.type as TensorType).dtype;
  const nd = (xv.type as TensorType).ndim;
  const x = w.name(xv);
  const o = w.name(node.outputs[0]!);
  w.use(MPI_PART, node);
  const sh: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
  for (let d = 0; d < nd; d++) sh.push(`  ${o}_n[${d}] = ${dim(x, d)};`);
  sh.push(`  ${contiguousStrides(o, nd, k, sq(String(node.op)))}`, `}`);
  w.shape.push(sh.join("\n"));
  return { x, o, dtype, nd, T: ctype(dtype) };
}

/** C that writes the input's shape as "3, 4" into `sx` (for a collective's error message). */
function shapeList(x: string, nd: number): string {
  return `char sx[160]; size_t e = 0; sx[0] = 0; for (int i = 0; i < ${nd} && e < sizeof sx; i++) e += (size_t)snprintf(sx + e, sizeof sx - e, i ? ", %lld" : "%lld", (long long)${x}_n[i]);`;
}

registerCGenerator({
  matches: (node: Apply): boolean => node.op instanceof AllReduce && currentWorld() !== null && config.distributed.c_collectives,
  generate(w: SegmentWriter, node: Apply, k: number): boolean {
    const op = node.op as AllReduce;
    const { x, o, dtype, nd, T } = collectivePrologue(w, node, k, (x, d) => `${x}_n[${d}]`);
    // perform's name of the collective, for the error: `allReduce{sum} of shape [3, 4] float32`
    const shapeText = nd === 0 ? `""` : `sx`;
    const listShape = nd === 0 ? "" : `${shapeList(x, nd)} `;
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

/**
 * AllGather: each rank's x (gathered first into a contiguous copy when strided) all-gathered as
 * [size, ...x's shape], which is the output when the axis is 0; for a later axis the ranks'
 * blocks are interleaved into the output as perform's transpose does: [pre, size, chunk], where
 * pre is the product of the dimensions before the axis.
 */
registerCGenerator({
  matches: (node: Apply): boolean => node.op instanceof AllGather && currentWorld() !== null && config.distributed.c_collectives,
  generate(w: SegmentWriter, node: Apply, k: number): boolean {
    const op = node.op as AllGather;
    const ax = op.axis;
    const { x, o, dtype, nd, T } = collectivePrologue(w, node, k, (x, d) => `${x}_n[${d}]${d === ax ? " * th_mpi_size()" : ""}`);
    const listShape = shapeList(x, nd);
    const pre = [...Array(ax).keys()].map((d) => `${x}_n[${d}]`).join(" * ") || "1";
    w.run.push(
      [
        `{ /* node ${k}: ${sq(node.toString())} */`,
        `  const int64_t n = th_size(${nd}, ${x}_n), pre = ${pre}, size = th_mpi_size();`,
        `  const ${T} *send = ${x};`,
        `  if (!th_contiguous(${nd}, ${x}_n, ${x}_s)) { ${T} *c = (${T} *)th_alloc((int64_t)sizeof(${T}) * (n > 0 ? n : 1)); if (!c) goto oom; tmp[ntmp++] = c; th_copy_strided(sizeof(${T}), ${nd}, ${x}_n, ${x}_s, ${x}, c); send = c; }`,
        `  ${T} *g = ${o};`,
        `  if (pre > 1) { g = (${T} *)th_alloc((int64_t)sizeof(${T}) * (n > 0 ? n * size : 1)); if (!g) goto oom; tmp[ntmp++] = g; }`,
        `  if (th_mpi_allgather(send, g, n, ${DTYPE_ORDER.indexOf(dtype)}, ${fnv1a(`allGather ${dtype}`)}.0) != 0) {`,
        `    ${listShape} snprintf(err, ${ERR_LEN}, "allGather{axis=${ax}} of shape [%s] ${dtype}", sx);`,
        `    ${partError(k)}`,
        `  }`,
        `  if (pre > 1) { const int64_t chunk = n / pre; for (int64_t p = 0; p < pre; p++) for (int64_t r = 0; r < size; r++) memcpy(${o} + (p * size + r) * chunk, g + (r * pre + p) * chunk, sizeof(${T}) * (size_t)chunk); }`,
        `}`,
      ].join("\n"),
    );
    return false;
  },
});
