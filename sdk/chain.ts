/**
 * The lazy, awaitable fluent chain.
 *
 * `Task.load(dir).fingerprint().plan().fold(0).train()` builds a chain of `Step` objects without doing any work.
 * A step runs only when it is awaited (or `.run()`); it first awaits its parent, then computes its own result,
 * which the step implementations cache as artifact files, so awaiting a chain again (or in a new process) only runs
 * what is missing. Each step runs at most once per object (the promise is memoised).
 *
 * Errors surface at the `await` as a `StepError` naming the step that failed and the chain that led to it; a
 * failure in an earlier step is passed through unchanged (so the first failing step is the one named).
 */
export class StepError extends Error {
  constructor(
    readonly step: string,
    readonly chain: string,
    override readonly cause: unknown,
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
    readonly parent?: Step<unknown>,
  ) {}

  /** The chain up to this step, e.g. `Task.load(...) → fingerprint() → plan()`. */
  get chain(): string {
    const names: string[] = [];
    for (let s: Step<unknown> | undefined = this as Step<unknown>; s; s = s.parent) names.unshift(s.stepName);
    return names.join(' → ');
  }

  /** Start (or join) the computation of this step and everything it needs. */
  run(): Promise<T> {
    if (!this.promise) {
      this.promise = (async () => {
        try {
          return await this.compute();
        } catch (e) {
          if (e instanceof StepError) throw e;
          throw new StepError(this.stepName, this.chain, e);
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
