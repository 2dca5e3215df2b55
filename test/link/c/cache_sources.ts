/**
 * Generated-looking C sources shared by the compile-cache test and its child processes, so both
 * sides hash exactly the same text. `childSource(v)` computes `a + v * v` (the loop gives the
 * compiler some work, which widens the window in which concurrent processes overlap).
 */

export function childSource(v: number): string {
  return `/* compile-cache test module, variant ${v} */
#include <stdint.h>
static int64_t table[64];
int theano_ts_child(int a) {
  for (int i = 0; i < 64; i++) table[i] = (int64_t)i * ${v};
  int64_t s = 0;
  for (int i = 0; i < 64; i++) s += table[i] % 7;
  return a + ${v} * ${v} + (int)(s - s);
}
`;
}
