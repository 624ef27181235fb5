/**
 * Randomness for nnunet-ts.
 *
 * `RandomState` is a bit-exact port of numpy's legacy `np.random.RandomState` (MT19937) for the calls nnU-Net's
 * deterministic parts use: seeding with an int, `random_sample`, `uniform`, `randint`, `shuffle`,
 * `permutation`, `choice` (no replacement, no p) and the legacy polar-method `normal`.
 * Parity needs it: the 5-fold split (sklearn KFold shuffle, seed 12345) and the sampled class locations
 * (`RandomState(1234).choice`) only match with the same generator.
 * Everything else that is random (augmentation, batch sampling) also goes through this one type, so a seed
 * reproduces a run and its state can be checkpointed (`getState` / `setState`).
 */
const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

export interface RandomStateSnapshot {
  mt: number[];
  pos: number;
  hasGauss: boolean;
  gauss: number;
}

export class RandomState {
  private mt = new Uint32Array(N);
  private pos = N;
  private hasGauss = false;
  private gauss = 0;

  constructor(seed = 0) {
    this.seed(seed);
  }

  /** numpy legacy seeding with a 32-bit int (init_genrand). */
  seed(seed: number): void {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new Error(`RandomState: seed must be an integer in [0, 2**32 - 1], got ${seed}`);
    }
    const mt = this.mt;
    mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      // 1812433253 * prev + i, in uint32 arithmetic
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.pos = N;
    this.hasGauss = false;
    this.gauss = 0;
  }

  private generate(): void {
    const mt = this.mt;
    let kk = 0;
    let y: number;
    for (; kk < N - M; kk++) {
      y = (mt[kk] & UPPER_MASK) | (mt[kk + 1] & LOWER_MASK);
      mt[kk] = mt[kk + M] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    for (; kk < N - 1; kk++) {
      y = (mt[kk] & UPPER_MASK) | (mt[kk + 1] & LOWER_MASK);
      mt[kk] = mt[kk + (M - N)] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    y = (mt[N - 1] & UPPER_MASK) | (mt[0] & LOWER_MASK);
    mt[N - 1] = mt[M - 1] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    this.pos = 0;
  }

  /** Next raw 32-bit output (genrand_int32). */
  nextUint32(): number {
    if (this.pos >= N) this.generate();
    let y = this.mt[this.pos++];
    y ^= y >>> 11;
    y = (y ^ ((y << 7) & 0x9d2c5680)) >>> 0;
    y = (y ^ ((y << 15) & 0xefc60000)) >>> 0;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** Uniform double in [0, 1) with 53 random bits (numpy random_sample). */
  random(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864.0 + b) / 9007199254740992.0;
  }

  randomSample(size: number): Float64Array {
    const out = new Float64Array(size);
    for (let i = 0; i < size; i++) out[i] = this.random();
    return out;
  }

  /** numpy uniform(low, high): low + (high - low) * random_sample(). */
  uniform(low = 0, high = 1): number {
    return low + (high - low) * this.random();
  }

  /** numpy random_interval(max): uniform integer in [0, max], masked rejection (max < 2**32). */
  interval(max: number): number {
    if (max === 0) return 0;
    if (max > 0xffffffff) throw new Error('RandomState.interval: max >= 2**32 not supported');
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    let v: number;
    do {
      v = (this.nextUint32() & mask) >>> 0;
    } while (v > max);
    return v;
  }

  /** numpy legacy randint(low, high): integer in [low, high). */
  randint(low: number, high?: number): number {
    if (high === undefined) {
      high = low;
      low = 0;
    }
    if (high <= low) throw new Error(`RandomState.randint: low >= high (${low}, ${high})`);
    return low + this.interval(high - 1 - low);
  }

  /** numpy legacy shuffle of a 1-d array, in place (Fisher-Yates from the end). */
  shuffle<T>(x: { length: number; [i: number]: T }): void {
    for (let i = x.length - 1; i > 0; i--) {
      const j = this.interval(i);
      const t = x[i];
      x[i] = x[j];
      x[j] = t;
    }
  }

  /** numpy permutation(n). */
  permutation(n: number): Int32Array {
    const a = new Int32Array(n);
    for (let i = 0; i < n; i++) a[i] = i;
    this.shuffle(a);
    return a;
  }

  /** numpy legacy choice(n, size, replace=False) with uniform p: permutation(n)[:size]. */
  choiceWithoutReplacement(n: number, size: number): Int32Array {
    if (size > n) throw new Error(`RandomState.choice: cannot take a larger sample (${size}) than population (${n}) without replacement`);
    return this.permutation(n).subarray(0, size);
  }

  /** numpy legacy choice(n, size, replace=True) with uniform p: randint(0, n, size). */
  choiceWithReplacement(n: number, size: number): Int32Array {
    const out = new Int32Array(size);
    for (let i = 0; i < size; i++) out[i] = this.randint(0, n);
    return out;
  }

  /** numpy legacy standard normal (polar Box-Muller, caches the second value). */
  standardNormal(): number {
    if (this.hasGauss) {
      this.hasGauss = false;
      return this.gauss;
    }
    let x1: number, x2: number, r2: number;
    do {
      x1 = 2.0 * this.random() - 1.0;
      x2 = 2.0 * this.random() - 1.0;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 === 0.0);
    const f = Math.sqrt((-2.0 * Math.log(r2)) / r2);
    this.gauss = f * x1;
    this.hasGauss = true;
    return f * x2;
  }

  normal(loc = 0, scale = 1): number {
    return loc + scale * this.standardNormal();
  }

  getState(): RandomStateSnapshot {
    return { mt: Array.from(this.mt), pos: this.pos, hasGauss: this.hasGauss, gauss: this.gauss };
  }

  setState(s: RandomStateSnapshot): void {
    if (s.mt.length !== N) throw new Error('RandomState.setState: bad state');
    this.mt = Uint32Array.from(s.mt);
    this.pos = s.pos;
    this.hasGauss = s.hasGauss;
    this.gauss = s.gauss;
  }
}
