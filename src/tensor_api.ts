/**
 * The tensor namespace as users see it (`theano.T`, `theano.tensor`): everything src/tensor
 * exports, plus the names Theano also puts on `T` that live in later stages (`T.grad`, `T.Lop`,
 * `T.Rop` come from src/gradient, which src/tensor may not import), and `T.switch`, a reserved
 * word that is still a legal export name and property name (as `theano.function` is).
 * A module rather than an object, so `T.TensorVariable` stays usable as a type.
 */
export * from "./tensor/index.js";
export { switch_ as switch } from "./tensor/math.js";
export { grad, Lop, Rop, jacobian, hessian } from "./gradient/index.js";
