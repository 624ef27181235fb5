/**
 * Deep comparison for parity tests: integers, strings, booleans and null exactly; non-integer numbers to a
 * relative tolerance (official floats went through float32 pixdim and JSON). Reports the path of the first difference.
 */
import * as assert from 'node:assert/strict';

/* eslint-disable @typescript-eslint/no-explicit-any */

export function assertClose(actual: unknown, expected: unknown, rel = 1e-6, path = '$'): void {
  if (typeof expected === 'number') {
    assert.equal(typeof actual, 'number', `${path}: expected a number, got ${JSON.stringify(actual)}`);
    const a = actual as number;
    if (Number.isInteger(expected) && Number.isInteger(a)) {
      assert.equal(a, expected, `${path}: ${a} !== ${expected}`);
      return;
    }
    const tol = rel * Math.max(Math.abs(expected), 1e-12);
    assert.ok(Math.abs(a - expected) <= tol, `${path}: ${a} differs from ${expected} by more than rel ${rel}`);
    return;
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path}: expected an array, got ${JSON.stringify(actual)}`);
    const a = actual as unknown[];
    assert.equal(a.length, expected.length, `${path}: length ${a.length} !== ${expected.length}`);
    expected.forEach((e, i) => assertClose(a[i], e, rel, `${path}[${i}]`));
    return;
  }
  if (expected !== null && typeof expected === 'object') {
    assert.ok(actual !== null && typeof actual === 'object' && !Array.isArray(actual), `${path}: expected an object`);
    const a = actual as Record<string, unknown>;
    const e = expected as Record<string, unknown>;
    assert.deepEqual(Object.keys(a).sort(), Object.keys(e).sort(), `${path}: keys differ`);
    for (const k of Object.keys(e)) assertClose(a[k], e[k], rel, `${path}.${k}`);
    return;
  }
  assert.equal(actual, expected, `${path}: ${JSON.stringify(actual)} !== ${JSON.stringify(expected)}`);
}

/** The official v1 plans pickle fields we reproduce (the rest are machine paths or the embedded fingerprint). */
export function officialV1Comparable(official: Record<string, unknown>): Record<string, unknown> {
  const { dataset_properties: _d, list_of_npz_files: _l, preprocessed_data_folder: _p, ...rest } = official;
  return rest;
}

/** A planner fingerprint from the official v1 dataset_properties. */
export function fromV1DatasetProperties(dp: Record<string, any>) {
  const ids = Object.keys(dp.size_reductions);
  return {
    spacings: dp.all_spacings,
    shapes_after_crop: dp.all_sizes,
    modalities: dp.modalities,
    all_classes: dp.all_classes,
    size_reductions: dp.size_reductions,
    case_identifiers: ids,
  };
}

