// `using` a shared variable (API.md §6: dispose() and Symbol.dispose): needs a lib with
// Disposable (esnext), so only tsconfig.init.json compiles this file.
import * as theano from "theano-ts";

export function scoped(): number {
  using s = theano.shared([1, 2, 3], { name: "scoped" });
  return s.getValue().size;
}
