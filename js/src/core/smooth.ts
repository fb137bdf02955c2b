/**
 * TensorBoard's debiased exponential moving average, matched exactly (users compare our
 * curves with TensorBoard's). Rules: a constant series is returned as is; non-finite
 * values pass through without touching the running state; the average is divided by
 * 1 - w^n (n = finite values seen) so early points are not pulled toward 0.
 * The Python side tests against the same fixtures (js/tests/fixtures/ema.json).
 */

/** The one-shot form: smoothed values of `ys` with weight `w` in [0, 1]. */
export function ema(ys: ArrayLike<number>, w: number): Float64Array {
  const n = ys.length;
  const out = new Float64Array(n);
  let isConstant = true;
  for (let i = 0; i < n; i++) {
    if (!(ys[i] == ys[0])) {
      isConstant = false;
      break;
    }
  }
  let last = 0;
  let numAccum = 0;
  for (let i = 0; i < n; i++) {
    const y = ys[i];
    if (isConstant || !Number.isFinite(y)) {
      out[i] = y;
    } else {
      last = last * w + (1 - w) * y;
      numAccum++;
      const debias = w === 1 ? 1 : 1 - Math.pow(w, numAccum);
      out[i] = last / debias;
    }
  }
  return out;
}

/**
 * The incremental form for a growing series: `update` smooths only the new points, and
 * starts over when the weight or the series' generation changes, or when the series
 * stops being constant (TensorBoard decides "constant" over the whole series, so the
 * raw prefix emitted so far must then be smoothed). Equals `ema` bit for bit.
 */
export class IncrementalEma {
  private out = new Float64Array(16);
  private length = 0;
  private weight = NaN;
  private generation = NaN;
  private last = 0;
  private numAccum = 0;
  private constant = true;

  /** Smoothed values of ys[0..n) (a view, valid until the next update). */
  update(ys: Float64Array, n: number, weight: number, generation: number): Float64Array {
    if (weight !== this.weight || generation !== this.generation || n < this.length) {
      this.weight = weight;
      this.generation = generation;
      this.restart(true);
    }
    if (n > this.out.length) {
      let cap = this.out.length;
      while (cap < n) cap *= 2;
      const grown = new Float64Array(cap);
      grown.set(this.out.subarray(0, this.length));
      this.out = grown;
    }
    const w = this.weight;
    const out = this.out;
    let i = this.length;
    while (i < n) {
      const y = ys[i];
      if (this.constant) {
        if (y == ys[0]) {
          out[i++] = y;
          continue;
        }
        this.restart(false);
        i = 0;
        continue;
      }
      if (!Number.isFinite(y)) {
        out[i++] = y;
        continue;
      }
      this.last = this.last * w + (1 - w) * y;
      this.numAccum++;
      const debias = w === 1 ? 1 : 1 - Math.pow(w, this.numAccum);
      out[i++] = this.last / debias;
    }
    this.length = n;
    return out.subarray(0, n);
  }

  private restart(constant: boolean): void {
    this.length = 0;
    this.last = 0;
    this.numAccum = 0;
    this.constant = constant;
  }
}
