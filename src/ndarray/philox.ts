/**
 * Philox-4x32-10, the counter-based generator of Salmon et al., "Parallel random numbers: as
 * easy as 1, 2, 3" (SC'11; Random123), and the word streams RandomStreams draws from.
 *
 * A counter-based generator is a keyed bijection: block = philox(counter, key). Nothing is
 * carried from one number to the next, so a C or GPU kernel reproduces any element of a draw
 * from (key, counter) alone, bit for bit, in any order and in parallel. That is why the stream
 * layout below is part of the contract (src/tensor/random.ts documents how each distribution
 * turns words into values):
 *
 *   element stream e (a 64-bit index) under key (k0, k1) is the sequence of 32-bit words of the
 *   blocks philox([lo32(e), hi32(e), j, 0], key) for j = 0, 1, 2, ..., four words per block, in
 *   order. A draw of n elements at counter c reads element streams c, c+1, ..., c+n-1.
 *
 * Arithmetic is exact 32-bit: Math.imul gives the low half of each 32x32 product, the high half
 * comes from 16-bit limbs (every partial product is below 2^32, exact in a double).
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two uint32s. */
function mulhi(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const lh = al * bh;
  const hl = ah * bl;
  const mid = ((al * bl) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/** One Philox-4x32-10 block: writes the four output words of `(c0..c3, k0, k1)` into `out`. */
export function philox4x32(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number, out: Uint32Array): void {
  c0 >>>= 0;
  c1 >>>= 0;
  c2 >>>= 0;
  c3 >>>= 0;
  k0 >>>= 0;
  k1 >>>= 0;
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

const TWO32 = 4294967296;

/**
 * The word stream of one element (see the header): `word()` returns the next uint32, and the
 * helpers build the uniforms every distribution uses from whole words, NumPy's way.
 */
export class ElementStream {
  private readonly block = new Uint32Array(4);
  private pos = 4;
  private j = 0;
  private k0 = 0;
  private k1 = 0;
  private e0 = 0;
  private e1 = 0;

  /** Restarts the stream at element `e` (0 <= e < 2^53) under key (k0, k1). */
  reset(k0: number, k1: number, e: number): this {
    this.k0 = k0;
    this.k1 = k1;
    this.e0 = e % TWO32 >>> 0;
    this.e1 = Math.floor(e / TWO32) >>> 0;
    this.j = 0;
    this.pos = 4;
    return this;
  }

  word(): number {
    if (this.pos === 4) {
      philox4x32(this.e0, this.e1, this.j++, 0, this.k0, this.k1, this.block);
      this.pos = 0;
    }
    return this.block[this.pos++]!;
  }

  /** A double in [0, 1) with 53 random bits, from two words (NumPy's random_standard_uniform). */
  uniform53(): number {
    const a = this.word() >>> 5;
    const b = this.word() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** A float32 value in [0, 1) with 24 random bits, from one word (NumPy's float32 path). */
  uniform24(): number {
    return (this.word() >>> 8) / 16777216;
  }

  /**
   * An integer uniform in [0, range) for 1 <= range <= 2^53: 53-bit candidates, rejected above
   * the largest multiple of `range` so no value is favoured (expected under two tries).
   */
  below(range: number): number {
    if (range <= 1) return 0;
    const limit = Math.floor(9007199254740992 / range) * range;
    for (;;) {
      const a = this.word() >>> 5;
      const b = this.word() >>> 6;
      const r = a * 67108864 + b;
      if (r < limit) return r % range;
    }
  }
}
