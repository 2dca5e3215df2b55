/**
 * `theano.pp` (issue 16 item 5, API.md §10): Theano's one-line algebraic rendering.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";

const { T } = theano;

describe("theano.pp", () => {
  const x = T.dmatrix("x");
  const y = T.dmatrix("y");
  const W = T.dmatrix("W");
  const b = T.dvector("b");
  const i = T.iscalar("i");

  it("issue 16.5: infix arithmetic fully parenthesised, constants by value, broadcasting implicit", () => {
    expect(theano.pp(x.add(y.mul(2)))).toBe("(x + (y * 2))");
    expect(theano.pp(T.dot(x, W).add(b))).toBe("(dot(x, W) + b)");
    expect(theano.pp(x.sub(y).trueDiv(x.pow(2)))).toBe("((x - y) / (x ** 2))");
    expect(theano.pp(x.gt(0))).toBe("(x > 0)");
    expect(theano.pp(T.neg(x))).toBe("-x");
    expect(theano.pp(T.constant(3))).toBe("3");
  });

  it("issue 16.5: calls, reductions, transposes, indexing", () => {
    expect(theano.pp(T.exp(x))).toBe("exp(x)");
    expect(theano.pp(T.nnet.sigmoid(T.dot(x, W)))).toBe("sigmoid(dot(x, W))");
    expect(theano.pp(T.exp(x).sum(1))).toBe("sum(exp(x), axis=[1])");
    expect(theano.pp(x.sum())).toBe("sum(x)");
    expect(theano.pp(x.max(0))).toBe("max(x, axis=[0])");
    expect(theano.pp(x.T)).toBe("x.T");
    expect(theano.pp(T.tensor3("t").transpose(1, 0, 2))).toBe("t.transpose(1, 0, 2)");
    expect(theano.pp(b.dimshuffle("x", 0))).toBe('b.dimshuffle("x", 0)');
    expect(theano.pp(x.get("1:3", 0))).toBe("x[1:3, 0]");
    expect(theano.pp(x.get(i))).toBe("x[i]");
    expect(theano.pp(x.get(T.slice(i, null)))).toBe("x[i:]");
    expect(theano.pp(x.astype("float32"))).toBe("cast(x, float32)");
    // Ops without a rule print as Theano's default printer does: the op, then its arguments.
    expect(theano.pp(T.nnet.softmax(x))).toBe("Softmax{axis=1}(x)");
  });

  it("issue 16.5: an unnamed input prints its type; arrays print one line each; theano.printing.pp is the same", () => {
    expect(theano.pp(T.dvector())).toBe("<TensorType(float64, (?,))>");
    expect(theano.pp([T.exp(x), x.T])).toBe("exp(x)\nx.T");
    expect(theano.printing.pp).toBe(theano.pp);
  });

  it("issue 16.5: a compiled function prints its optimized outputs", () => {
    const f = theano.function([x, W], T.dot(x, W));
    expect(theano.pp(f)).toMatch(/^[A-Za-z]+.*\(x, W\)$|dot\(x, W\)/);
  });

  it("issue 16.5: a subexpression reused many times prints in bounded space", () => {
    let z = x as theano.TensorVariable;
    for (let k = 0; k < 40; k++) z = z.mul(z);
    const s = theano.pp(z);
    expect(s.length).toBeLessThan(10_000);
    expect(s).toMatch(/characters\}/);
  });
});
