/**
 * What a shape error looks like (issue 16, docs/playbook.md): the model below adds two vectors
 * of different lengths inside an expression that the compiler fuses into one generated loop.
 * The error still names the line of this file that built the offending `add`, and with
 * `exception_verbosity=high` it adds Theano's full report: the node, its position in the
 * compiled graph, input types, shapes and strides, and every user node fused into it.
 *
 *   npx tsx examples/shape_error.ts
 *   THEANO_FLAGS=exception_verbosity=high npx tsx examples/shape_error.ts
 *
 * A second part runs an expression that divides by zero under NanGuardMode, which stops at the
 * first node producing an Inf or NaN and names it with its line here.
 */
import * as theano from "../src/index.js";

const T = theano.tensor;

const x = T.fvector("x");
const y = T.fvector("y");
const scaled = T.exp(x).mul(2);
const mixed = scaled.add(y); // the shapes of x and y disagree here at run time
const f = theano.function([x, y], T.tanh(mixed).sum());

try {
  f(new Float32Array([1, 2, 3]), new Float32Array([1, 2]));
  console.error("expected a ShapeError");
  process.exit(1);
} catch (e) {
  if (!(e instanceof theano.ShapeError)) throw e;
  console.log(`${e.name}: ${e.message}`);
}

console.log("\n--- NanGuardMode ---");
const v = T.fvector("v");
const ratio = T.trueDiv(1, v); // 1/0 is Inf: NanGuardMode stops here
const g = theano.function([v], ratio.add(v).sum(), { mode: "NanGuardMode" });
try {
  g(new Float32Array([1, 0, 2]));
  console.error("expected NanGuardMode to stop the call");
  process.exit(1);
} catch (e) {
  console.log(`${(e as Error).name}: ${(e as Error).message}`);
}
