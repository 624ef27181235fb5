import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Step, StepError, child, lazy } from '../sdk/chain';

// A tiny three-step chain built on the real mechanism, counting how often each step computes.
class NumberStep extends Step<number> {
  double(counter: string[]): NumberStep {
    return child(this, 'double()', NumberStep, (v) => {
      counter.push('double');
      return v * 2;
    });
  }
  fail(): NumberStep {
    return child(this, 'fail()', NumberStep, () => {
      throw new Error('boom');
    });
  }
}

function load(counter: string[], value = 3): NumberStep {
  return new NumberStep('load()', async () => {
    counter.push('load');
    return value;
  });
}

test('building a chain does no work; awaiting it runs each step once', async () => {
  const calls: string[] = [];
  const s = load(calls).double(calls).double(calls);
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(calls, [], 'lazy: nothing ran before await');
  assert.equal(await s, 12);
  assert.deepEqual(calls, ['load', 'double', 'double']);
  assert.equal(await s, 12);
  assert.deepEqual(calls, ['load', 'double', 'double'], 'memoised');
});

test('a shared parent runs once for two children', async () => {
  const calls: string[] = [];
  const base = load(calls);
  const [a, b] = await Promise.all([base.double(calls), base.double(calls)]);
  assert.equal(a + b, 12);
  assert.equal(calls.filter((c) => c === 'load').length, 1);
});

test('errors surface at the await, naming the failing step and the chain', async () => {
  const calls: string[] = [];
  const s = load(calls).fail().double(calls);
  await assert.rejects(s, (e: unknown) => {
    assert.ok(e instanceof StepError);
    assert.equal(e.step, 'fail()');
    assert.equal(e.chain, 'load() → fail()');
    assert.match(e.message, /step 'fail\(\)' failed \(load\(\) → fail\(\)\): boom/);
    return true;
  });
  assert.deepEqual(calls, ['load'], 'steps after the failure never ran');
});

test('then/catch/finally behave like a promise', async () => {
  const calls: string[] = [];
  let fin = false;
  const v = await load(calls)
    .then((x) => x + 1)
    .finally(() => {
      fin = true;
    });
  assert.equal(v, 4);
  assert.ok(fin);
  const caught = await load(calls).fail().catch((e) => (e as Error).name);
  assert.equal(caught, 'StepError');
  assert.equal(String(load(calls).double(calls)), '[Step load() → double()]');
});

// lazy(): every method of the resolved value is reachable from the pending step, and errors name the whole chain.
class Counter {
  constructor(
    readonly n: number,
    readonly origin = 'start()',
  ) {}
  add(k: number) {
    return lazy(`add(${k})`, async () => new Counter(this.n + k, `${this.origin} → add(${k})`), this.origin);
  }
  /** synchronous: returns a value, not a step */
  double(): Counter {
    return new Counter(this.n * 2, `${this.origin} → double()`);
  }
  explode() {
    return lazy('explode()', async (): Promise<Counter> => {
      throw new Error('kaboom');
    }, this.origin);
  }
}
const start = () => lazy('start()', async () => new Counter(1));

test('lazy: methods of the resolved value chain without awaits (steps and plain methods alike)', async () => {
  const c = await start().add(2).double().add(1);
  assert.equal(c.n, 7);
  assert.equal(String(start().add(2).double()), '[Step start() → add(2) → double()]');
  assert.equal(JSON.stringify({ s: 1 }), '{"s":1}');
  assert.equal((start() as unknown as { toJSON?: unknown }).toJSON, undefined, 'toJSON is not forwarded');
});

test('lazy: a failure names the whole chain, also when the step is called on an awaited object', async () => {
  await assert.rejects(start().add(2).explode().add(1), (e: unknown) => {
    assert.ok(e instanceof StepError);
    assert.equal(e.chain, 'start() → add(2) → explode()');
    assert.match(e.message, /kaboom/);
    return true;
  });
  const awaited = await start().add(2);
  await assert.rejects(awaited.explode(), (e: unknown) => e instanceof StepError && e.chain === 'start() → add(2) → explode()');
  await assert.rejects(
    (start() as unknown as { nope: () => Promise<unknown> }).nope(),
    /nope\(\) is not a method of Counter/,
  );
});
