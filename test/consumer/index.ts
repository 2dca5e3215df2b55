// The public API from a user's project (API.md §1-§11): every line must type-check against the
// published declarations under each tsconfig.*.json here. Nothing is run; the file is compiled.
import * as theano from "theano-ts";
import { T } from "theano-ts";
import type { NDArray, TensorVariable, TheanoFunction, FunctionOptions, CopyOptions, GradOptions, DType } from "theano-ts";

// Host arrays.
const a: NDArray = theano.array([[1, 2], [3, 4]], "float32");
const shape: readonly number[] = a.shape;
const dt: DType = a.dtype;
const z: number = theano.zeros([3, 4], "float64").size;
const n = theano.asarray(a, "float64").get(1, 0);

// Symbols, Theano's names on T.
const x = T.dvector("x");
const [p, q] = T.dscalars("p", "q");
const m: TensorVariable = T.fmatrix("m");
const bc: boolean[] = x.broadcastable;
const sw = T.switch(x.gt(0), x, x.neg());
const t3 = T.tensor({ dtype: "float32", shape: [null, 256], name: "t" });

// Compiling, shared variables, updates, copies.
const w = theano.shared(theano.zeros([3], "float64"), { name: "w" });
const b = theano.shared(0, { dtype: "float64", name: "b" });
const cost = T.sum(x.mul(w).add(b).pow(2));
const [gw, gb] = T.grad(cost, [w, b]);
const opts: FunctionOptions = { updates: [[w, w.sub(gw!.mul(0.1))], [b, b.sub(gb!.mul(0.1))]], name: "train" };
const train: TheanoFunction<NDArray> = theano.function([x], cost, opts);
const copyOpts: CopyOptions = { deleteUpdates: true, swap: new Map([[w, theano.shared(theano.zeros([3], "float64"))]]) };
const probe = train.copy(copyOpts);
const out: NDArray = probe([1, 2, 3]);
const both = theano.function([theano.In(p!, { value: 1 }), q!], [theano.Out(p!.add(q!), { borrow: true }), sw.sum()], { onUnusedInput: "ignore" });
w.setValue([1, 2, 3]);
const wv: NDArray = w.getValue({ borrow: false });
w.dispose();

// Gradients.
const gopts: GradOptions = { disconnectedInputs: "ignore" };
const V = T.dmatrix("V");
const W = T.dmatrix("W");
const JV = T.Rop(T.dot(x, W), W, V);
const VJ = theano.gradient.Lop(T.dot(x, W), W, x);
const J = theano.gradient.jacobian(x.pow(2), x);
const g1 = theano.grad(p!.mul(p!), p!, gopts);

// Configuration, printing, errors.
const fx: string = theano.config.floatX;
const text: string = theano.printing.debugprint(JV, { print: false });
const isErr = (e: unknown): boolean => e instanceof theano.InputError || e instanceof theano.GradientError || e instanceof theano.TheanoError;

export const used = [shape, dt, z, n, m, bc, t3, out, both, wv, VJ, J, g1, fx, text, isErr];
