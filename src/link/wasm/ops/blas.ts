/**
 * Wasm generators for the matrix products the rewritten graph holds on float32 and float64:
 * `Dot` (vector and matrix operands, both of the output's dtype) and `Gemm`
 * (`alpha·x·y + beta·z`, in place or not). Both run one kernel per dtype,
 *
 *   kernel(O, M, N, K, A, as0, as1, B, bs0, bs1, Z, zs0, zs1, alpha, beta, S)
 *
 * writing the contiguous M×N result O = alpha·A·B + beta·Z from A (M×K) and B (K×N) read
 * through any byte strides (transposed, sliced or broadcast views need no copy first), with
 * S a scratch block of `gemmScratchBytes` bytes. Z is read only when beta != 0 (copied into O
 * first, unless Z is O itself), so a NaN in z stays out when beta is 0, as in BLAS and
 * `Gemm.perform`.
 *
 * The structure is the Goto/BLIS one, as the C backend's built-in GEMM (../../c/gemm.ts): for
 * each KC-deep slice of K, B is packed into NR-column panels (zero-padded at the right edge);
 * for each MC-row block, A is packed into MR-row panels (zero-padded at the bottom); a
 * register-blocked MR×NR micro-kernel (MR·NR/lanes v128 accumulators, one splat-load of A and
 * NR/lanes loads of B per step of k, f32x4/f64x2 relaxed_madd where the engine validates
 * relaxed SIMD, else mul and add: Node 20 has relaxed SIMD only behind a flag) runs over every
 * pair of panels; columns go in blocks of NC, so the packed B slice stays KC×NC at most. The
 * first slice stores alpha·acc (+ beta·O), later slices add alpha·acc to O. Full tiles store
 * with v128; edge tiles go through a small tile buffer and a scalar loop over their valid part,
 * so no access leaves the operands. K = 0 still runs one (empty) slice: O = alpha·0 + beta·z, as
 * perform gives. 4x8 is the float32 tile: 6x8, 4x12, 8x8 and 3x16 ran at half its speed in V8
 * (accumulators spilled), and unrolling k by 2 or 4 did the same.
 *
 * Products accumulate in the element type (perform accumulates in float64): float32 results
 * agree with perform within float32 rounding of a K-term sum, as BLAS's do.
 */

import { ShapeError } from "../../../errors.js";
import type { Apply } from "../../../graph/basic.js";
import { Dot } from "../../../tensor/blas.js";
import { Gemm } from "../../../tensor/gemm.js";
import { type TensorType, formatStaticShape } from "../../../tensor/type.js";
import { FunctionBuilder, wasmRelaxedSimdSupported, wasmSimdSupported } from "../emitter.js";

type FDType = "float32" | "float64";

/** Register tile (MR rows × NR columns, NR = two vectors) and cache blocks (KC deep, MC rows, NC columns). */
const BLOCK: Record<FDType, { MR: number; NR: number; KC: number; MC: number; NC: number }> = {
  float32: { MR: 4, NR: 8, KC: 256, MC: 128, NC: 4096 },
  float64: { MR: 4, NR: 4, KC: 128, MC: 128, NC: 2048 },
};

const dtypeOf = (v: { type: unknown }): string => (v.type as TensorType).dtype;
const isF = (d: string): d is FDType => d === "float32" || d === "float64";

export function wasmBlasSupported(node: Apply): boolean {
  const op = node.op;
  const out = dtypeOf(node.outputs[0]!);
  // The micro-kernel is v128 code: without SIMD in the engine products run on the host.
  if (!isF(out) || !wasmSimdSupported()) return false;
  if (op instanceof Dot) return node.inputs.every((v) => dtypeOf(v) === out);
  // Gemm's makeNode has z, x and y share the output's float dtype; alpha and beta are read on the host.
  return op instanceof Gemm;
}

/** The product's sizes; throws perform's ShapeError (naming the op) when the operands do not fit. */
export function blasShapes(node: Apply, shapes: ReadonlyArray<readonly number[]>): { m: number; k: number; n: number; out: number[] } {
  const fmt = formatStaticShape;
  if (node.op instanceof Gemm) {
    const [z, , x, y] = shapes as [number[], number[], number[], number[]];
    const [m, k] = x as [number, number];
    const n = y[1]!;
    if (y[0] !== k) throw new ShapeError(`${node.op}: shapes ${fmt(x)} and ${fmt(y)} not aligned: ${k} (dim 1) != ${y[0]} (dim 0)`);
    if (z[0] !== m || z[1] !== n) throw new ShapeError(`${node.op}: z has shape ${fmt(z)} but dot(x, y) has shape (${m}, ${n})`);
    return { m, k, n, out: [m, n] };
  }
  const [a, b] = shapes as [number[], number[]];
  const k = a[a.length - 1]!;
  if (b[0] !== k) throw new ShapeError(`dot: shapes ${fmt(a)} and ${fmt(b)} not aligned: ${k} (dim ${a.length - 1}) != ${b[0]} (dim 0)`);
  return { m: a.length === 2 ? a[0]! : 1, k, n: b.length === 2 ? b[1]! : 1, out: [...a.slice(0, -1), ...b.slice(1)] };
}

/** Rows of the register tile: row blocks split at its multiples give the single-thread results bit for bit. */
export function gemmRowTile(dtype: FDType): number {
  return BLOCK[dtype].MR;
}

/** Bytes of scratch the kernel needs for an N-column product: packed A block, packed B slice, tile. */
export function gemmScratchBytes(dtype: FDType, n: number): number {
  const { MR, NR, KC, MC, NC } = BLOCK[dtype];
  const es = dtype === "float32" ? 4 : 8;
  return (MC * KC + Math.ceil(Math.min(n, NC) / NR) * NR * KC + MR * NR) * es;
}

/** The kernel of each (dtype, fma), built once per process (a few ms each) and only read after. */
const built = new Map<string, FunctionBuilder>();

export function blasKernel(node: Apply): FunctionBuilder {
  const dtype = dtypeOf(node.outputs[0]!) as FDType;
  const fma = wasmRelaxedSimdSupported();
  const key = `${dtype}:${fma}`;
  let fn = built.get(key);
  if (!fn) built.set(key, (fn = gemmKernel(dtype, fma)));
  return fn;
}

/** `fma`: accumulate with relaxed_madd (the engine validates relaxed SIMD) instead of mul + add. */
export function gemmKernel(dtype: FDType, fma: boolean): FunctionBuilder {
  const { MR, NR, KC, MC, NC } = BLOCK[dtype];
  const es = dtype === "float32" ? 4 : 8;
  const T = dtype === "float32" ? "f32" : "f64";
  const V = dtype === "float32" ? "f32x4" : "f64x2";
  const NV = (NR * es) / 16;
  const load = T === "f32" ? "f32.load" : "f64.load";
  const store = T === "f32" ? "f32.store" : "f64.store";
  const f = new FunctionBuilder(["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "f64", "f64", "i32"], []);
  const [O, M, N, K, A, AS0, AS1, B, BS0, BS1, Z, ZS0, ZS1, ALPHA, BETA, S] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] as const;
  const loc = (): number => f.local("i32");
  const [pc, kc, ic, mc, jr, ir, p, i, j, src, dst, q, pend, ldo, pb0, tile, old, rows, cols] = Array.from({ length: 19 }, loc) as number[] as [
    number, number, number, number, number, number, number, number, number, number, number, number, number, number, number, number, number, number, number,
  ];
  const jc = loc();
  const nc = loc();
  const alphaT = f.local(T);
  const sv = f.local(T);
  const betaT = f.local(T);
  const acc = Array.from({ length: MR * NV }, () => f.local("v128"));
  const bv = Array.from({ length: NV }, () => f.local("v128"));
  const av = f.local("v128");
  const valpha = f.local("v128");
  const vbeta = f.local("v128");
  const zero = (): FunctionBuilder => (T === "f32" ? f.f32(0) : f.f64(0));
  const demote = (): void => void (T === "f32" && f.op("f32.demote_f64"));
  const add = (a: number, b: number): void => void f.get(a).get(b).op("i32.add").set(a);
  const addC = (a: number, c: number): void => void f.get(a).i32(c).op("i32.add").set(a);
  /** for (v = 0; v < bound; v += step) body — v and bound are locals. */
  const upTo = (v: number, bound: number, step: number, body: () => void): void => {
    f.i32(0).set(v);
    f.block().loop();
    f.get(v).get(bound).op("i32.ge_u").brIf(1);
    body();
    addC(v, step);
    f.br(0).end().end();
  };
  /** Pushes min(c, bound - v) (all non-negative). */
  const minLeft = (c: number, bound: number, v: number): void => {
    f.get(bound).get(v).op("i32.sub").i32(c).i32(c).get(bound).get(v).op("i32.sub").op("i32.gt_u").op("select");
  };

  f.get(ALPHA);
  demote();
  f.set(alphaT);
  f.get(BETA);
  demote();
  f.set(betaT);
  f.get(alphaT).simd(`${V}.splat`).set(valpha);
  f.get(N).i32(es).op("i32.mul").set(ldo);
  f.get(S).i32(MC * KC * es).op("i32.add").set(pb0);
  // pb0 + KC·(min(N, NC) rounded up to NR)·es: the tile buffer after the packed B slice.
  f.i32(0).set(jc);
  minLeft(NC, N, jc);
  f.i32(NR - 1).op("i32.add").i32(-NR).op("i32.and").i32(KC * es).op("i32.mul").get(pb0).op("i32.add").set(tile);

  // beta != 0: O = z first (read through its strides; the host passes Z = O when the result
  // is written over z's own contiguous block); beta == 0 never reads z.
  f.get(BETA).f64(0).op("f64.ne").get(Z).get(O).op("i32.ne").op("i32.and").if();
  upTo(i, M, 1, () => {
    f.get(Z).get(i).get(ZS0).op("i32.mul").op("i32.add").set(src);
    f.get(O).get(i).get(ldo).op("i32.mul").op("i32.add").set(dst);
    upTo(j, N, 1, () => {
      f.get(dst).get(src).mem(load).mem(store);
      add(src, ZS1);
      addC(dst, es);
    });
  });
  f.end();

  // Column blocks of NC (the packed B slice is KC × NC at most), then
  // for (pc = 0; ; ) { ...; pc += KC; if (pc >= K) break } — one slice even when K = 0.
  upTo(jc, N, NC, () => {
    minLeft(NC, N, jc);
    f.set(nc);
    f.i32(0).set(pc);
    f.block().loop();
    minLeft(KC, K, pc);
    f.set(kc);
    // O is read from the second slice on, and in the first when beta != 0.
    f.get(pc).i32(0).op("i32.ne").get(BETA).f64(0).op("f64.ne").op("i32.or").set(old);
    f.get(pc).op("i32.eqz").if(T);
    f.get(betaT);
    f.op("else");
    if (T === "f32") f.f32(1);
    else f.f64(1);
    f.end().simd(`${V}.splat`).set(vbeta);

    /**
     * Packs the panel at dst: kc steps of `width` lanes (columns of B, rows of A), lane l of step
     * p read from src + l·lane + p·step. A full panel (idx + width <= bound) copies each lane as a
     * branch-free strided loop, or each step as vectors when the lanes are contiguous; the lanes of
     * an edge panel past `bound` are zeros (and never read).
     */
    const packPanel = (width: number, lane: number, step: number, idx: number, bound: number): void => {
      f.get(idx).i32(width).op("i32.add").get(bound).op("i32.le_u").if();
      const vectors = (width * es) % 16 === 0;
      if (vectors) {
        f.get(lane).i32(es).op("i32.eq").if();
        upTo(p, kc, 1, () => {
          for (let v = 0; v < (width * es) / 16; v++) f.get(dst).get(src).v128Load(v * 16).v128Store(v * 16);
          add(src, step);
          addC(dst, width * es);
        });
        f.op("else");
      }
      for (let l = 0; l < width; l++) {
        f.get(src).get(lane).i32(l).op("i32.mul").op("i32.add").set(q);
        f.get(dst).i32(l * es).op("i32.add").set(j);
        upTo(p, kc, 1, () => {
          f.get(j).get(q).mem(load).mem(store);
          add(q, step);
          addC(j, width * es);
        });
      }
      if (vectors) f.end();
      f.op("else");
      upTo(p, kc, 1, () => {
        for (let l = 0; l < width; l++) {
          f.get(dst);
          f.get(idx).i32(l).op("i32.add").get(bound).op("i32.lt_u").if(T);
          f.get(src).get(lane).i32(l).op("i32.mul").op("i32.add").mem(load);
          f.op("else");
          zero();
          f.end().mem(store, l * es);
        }
        add(src, step);
        addC(dst, width * es);
      });
      f.end();
    };

    // Pack B[pc:pc+kc, :] into panels of NR columns, each kc rows of NR elements.
    upTo(jr, nc, NR, () => {
      f.get(pb0).get(jr).get(kc).op("i32.mul").i32(es).op("i32.mul").op("i32.add").set(dst);
      f.get(B).get(pc).get(BS0).op("i32.mul").op("i32.add").get(jc).get(jr).op("i32.add").get(BS1).op("i32.mul").op("i32.add").set(src);
      packPanel(NR, BS1, BS0, jr, nc);
    });

    upTo(ic, M, MC, () => {
      minLeft(MC, M, ic);
      f.set(mc);
      // Pack A[ic:ic+mc, pc:pc+kc] into panels of MR rows, each kc steps of MR elements.
      upTo(ir, mc, MR, () => {
        f.get(S).get(ir).get(kc).op("i32.mul").i32(es).op("i32.mul").op("i32.add").set(dst);
        f.get(A).get(ic).get(ir).op("i32.add").get(AS0).op("i32.mul").op("i32.add").get(pc).get(AS1).op("i32.mul").op("i32.add").set(src);
        packPanel(MR, AS0, AS1, ir, mc);
      });

      upTo(jr, nc, NR, () => {
        upTo(ir, mc, MR, () => {
          // The micro-kernel: acc[r][v] += A[ir + r, p] · B[p, jr + v·lanes ..] over the slice.
          for (const a of acc) zero().simd(`${V}.splat`).set(a);
          f.get(S).get(ir).get(kc).op("i32.mul").i32(es).op("i32.mul").op("i32.add").set(src);
          f.get(pb0).get(jr).get(kc).op("i32.mul").i32(es).op("i32.mul").op("i32.add").set(q);
          f.get(src).get(kc).i32(MR * es).op("i32.mul").op("i32.add").set(pend);
          f.block().loop();
          f.get(src).get(pend).op("i32.ge_u").brIf(1);
          for (let v = 0; v < NV; v++) f.get(q).v128Load(v * 16).set(bv[v]!);
          for (let r = 0; r < MR; r++) {
            f.get(src).v128LoadSplat(es as 4 | 8, r * es).set(av);
            for (let v = 0; v < NV; v++) {
              const a = acc[r * NV + v]!;
              if (fma) f.get(av).get(bv[v]!).get(a).simd(`${V}.relaxed_madd`).set(a);
              else f.get(a).get(av).get(bv[v]!).simd(`${V}.mul`).simd(`${V}.add`).set(a);
            }
          }
          addC(src, MR * es);
          addC(q, NR * es);
          f.br(0).end().end();

          // dst = &O[ic + ir, jr]
          f.get(O).get(ic).get(ir).op("i32.add").get(ldo).op("i32.mul").op("i32.add").get(jc).get(jr).op("i32.add").i32(es).op("i32.mul").op("i32.add").set(dst);
          f.get(ir).i32(MR).op("i32.add").get(mc).op("i32.le_u").get(jr).i32(NR).op("i32.add").get(nc).op("i32.le_u").op("i32.and").if();
          // A full tile: vector stores, row by row.
          for (const withOld of [true, false]) {
            if (withOld) f.get(old).if();
            else f.op("else");
            f.get(dst).set(q);
            for (let r = 0; r < MR; r++) {
              for (let v = 0; v < NV; v++) {
                f.get(q).get(acc[r * NV + v]!).get(valpha).simd(`${V}.mul`);
                if (withOld) f.get(q).v128Load(v * 16).get(vbeta).simd(`${V}.mul`).simd(`${V}.add`);
                f.v128Store(v * 16);
              }
              if (r < MR - 1) add(q, ldo);
            }
          }
          f.end();
          f.op("else");
          // An edge tile: through the tile buffer, then its valid rows and columns one by one.
          for (let r = 0; r < MR; r++) for (let v = 0; v < NV; v++) f.get(tile).get(acc[r * NV + v]!).v128Store((r * NV + v) * 16);
          minLeft(MR, mc, ir);
          f.set(rows);
          minLeft(NR, nc, jr);
          f.set(cols);
          upTo(i, rows, 1, () => {
            f.get(dst).get(i).get(ldo).op("i32.mul").op("i32.add").set(q);
            f.get(tile).get(i).i32(NR * es).op("i32.mul").op("i32.add").set(src);
            upTo(j, cols, 1, () => {
              f.get(src).mem(load).get(alphaT).op(`${T}.mul`).set(sv);
              f.get(old).if();
              f.get(sv).get(q).mem(load).get(vbeta).extractLane(V, 0).op(`${T}.mul`).op(`${T}.add`).set(sv);
              f.end();
              f.get(q).get(sv).mem(store);
              addC(q, es);
              addC(src, es);
            });
          });
          f.end();
        });
      });
    });

    addC(pc, KC);
    f.get(pc).get(K).op("i32.lt_u").brIf(0);
    f.end().end();
  });
  return f;
}
