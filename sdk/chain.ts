/**
 * The lazy, awaitable fluent chain.
 *
 * `Task.load(dir).fingerprint().plan().fold(0).train()` builds a chain of steps without doing any work. A step runs
 * only when it is awaited (or `.run()`); it first awaits its parent, then computes its own result, which the step
 * implementations cache as artifact files, so awaiting a chain again (or in a new process) only runs what is
 * missing. Each step runs at most once per object (the promise is memoised).
 *
 * The naming rule: a method that does work (reads or writes files, trains, predicts) returns a lazy step; a method
 * that only reads what an object already holds (summary(), table(), plot(), configuration(...)) returns its value.
 * A step offers every method of the value it resolves to, lazily (`lazy()` below): each step is written once, as a
 * method of the resolved object, and is reachable both from a pending chain and from the awaited object.
 *
 * Errors surface at the `await` as a `StepError` naming the step that failed and the whole chain that led to it
 * (`Task.load(...) → fingerprint() → plan() → fold(0) → train()`), also for steps called on awaited objects; a
 * failure in an earlier step is passed through unchanged (so the first failing step is the one named).
 */
export class StepError extends Error {
  constructor(
    readonly step: string,
    readonly chain: string,
    override readonly cause: unknown,
    /** The step that failed (so later steps of the same chain pass the error through). */
    readonly origin?: Step<unknown>,
  ) {
    super(`nnunet-ts: step '${step}' failed (${chain}): ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'StepError';
  }
}

export class Step<T> implements Promise<T> {
  private promise?: Promise<T>;
  /** A step is a full Promise (assignable wherever one is expected). */
  readonly [Symbol.toStringTag] = 'Step';

  constructor(
    /** Name of this step as the user wrote it, e.g. `plan()`. */
    readonly stepName: string,
    private readonly compute: () => Promise<T>,
    /** The step this one continues, or the chain (text) that produced the object this step was called on. */
    readonly parent?: Step<unknown> | string,
  ) {}

  /** The chain up to this step, e.g. `Task.load(...) → fingerprint() → plan()`. */
  get chain(): string {
    const names: string[] = [];
    let s: Step<unknown> | string | undefined = this as Step<unknown>;
    for (; s instanceof Step; s = s.parent) names.unshift(s.stepName);
    if (typeof s === 'string' && s) names.unshift(s);
    return names.join(' → ');
  }

  /** True when `s` is this step or one it continues. */
  private continues(s: Step<unknown> | undefined): boolean {
    for (let p: Step<unknown> | string | undefined = this as Step<unknown>; p instanceof Step; p = p.parent) if (p === s) return true;
    return false;
  }

  /** Start (or join) the computation of this step and everything it needs. */
  run(): Promise<T> {
    if (!this.promise) {
      this.promise = (async () => {
        try {
          return await this.compute();
        } catch (e) {
          // an earlier step of this chain failed: it is the one to name
          if (e instanceof StepError && this.continues(e.origin)) throw e;
          // a step run inside this one (a shortcut such as plan() = fingerprint() then plan()) is reported at this chain
          throw new StepError(this.stepName, this.chain, e instanceof StepError ? e.cause : e, this as Step<unknown>);
        }
      })();
    }
    return this.promise;
  }

  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.run().then(onfulfilled, onrejected);
  }

  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.run().catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.run().finally(onfinally);
  }

  /** Notebook-friendly: a step prints as what it will compute, not as a pending promise. */
  toString(): string {
    return `[Step ${this.chain}]`;
  }
}

/** Build a child step whose computation receives the parent's resolved value. */
export function child<P, T, S extends Step<T>>(
  parent: Step<P>,
  stepName: string,
  StepClass: new (stepName: string, compute: () => Promise<T>, parent?: Step<unknown>) => S,
  fn: (value: P) => T | PromiseLike<T>,
): S {
  return new StepClass(stepName, async () => fn(await parent.run()), parent as Step<unknown>);
}

// ---- lazy(): a step that offers the methods of what it resolves to --------------------------------------------------

type Unstep<R> = R extends Step<infer U> ? U : R extends PromiseLike<infer U> ? U : R;
type LazyMethods<T> = {
  [K in keyof T as K extends keyof Step<unknown> ? never : T[K] extends (...args: never[]) => unknown ? K : never]: T[K] extends (
    ...args: infer A
  ) => infer R
    ? (...args: A) => Lazy<Unstep<R>>
    : never;
};

/** A pending step of type T: awaitable, and every method of T callable on it (lazily). */
export type Lazy<T> = Step<T> & LazyMethods<T>;

/** Property names never forwarded (probed by JSON.stringify, test frameworks, React-like renderers, Node). */
const NOT_FORWARDED = new Set(['toJSON', 'constructor', 'inspect', 'asymmetricMatch', '$$typeof', 'nodeType', 'tagName', 'valueOf', 'prototype']);

/** How an argument shows in a step's name: primitives as JSON, objects by their first few simple fields. */
function describeArg(a: unknown): string {
  if (a === undefined) return '';
  if (a === null || typeof a !== 'object') return typeof a === 'function' ? 'ƒ' : JSON.stringify(a);
  if (Array.isArray(a)) return a.length <= 3 && a.every((x) => x === null || typeof x !== 'object') ? JSON.stringify(a) : `[${a.length} items]`;
  const simple = Object.entries(a).filter(([, v]) => v === null || ['string', 'number', 'boolean'].includes(typeof v));
  const shown = simple.slice(0, 3).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
  return `{${shown.join(', ')}${Object.keys(a).length > shown.length ? (shown.length ? ', …' : '…') : ''}}`;
}

export function stepName(method: string, args: readonly unknown[]): string {
  return `${method}(${args.map(describeArg).filter((x, i, all) => x !== '' || i < all.length - 1).join(', ')})`;
}

/**
 * A lazy step (see Step) whose pending value already offers the methods of its result: `step.fold(0)` is a new
 * step that awaits `step`, then calls `fold(0)` on the result (awaiting it if that returns a step).
 */
export function lazy<T>(name: string, compute: () => Promise<T>, parent?: Step<unknown> | string): Lazy<T> {
  const step = new Step<T>(name, compute, parent);
  return new Proxy(step, {
    get(target, prop) {
      if (typeof prop === 'symbol' || prop in target || NOT_FORWARDED.has(prop)) {
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      }
      return (...args: unknown[]) =>
        lazy(
          stepName(prop, args),
          async () => {
            const value = (await target.run()) as Record<string, unknown> | null | undefined;
            const method = value?.[prop];
            if (typeof method !== 'function') {
              const what = value === null || value === undefined ? String(value) : (value.constructor?.name ?? typeof value);
              throw new Error(`${prop}() is not a method of ${what}`);
            }
            const r = (method as (...a: unknown[]) => unknown).apply(value, args);
            return r instanceof Step ? r.run() : r;
          },
          target as Step<unknown>,
        );
    },
  }) as Lazy<T>;
}
