import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { computeMetrics, confusionCounts, V1_DEFAULT_METRICS } from '../../sdk/evaluation/metrics';
import {
  addForegroundMean,
  aggregateScores,
  evaluateCase,
  foregroundMeanDice,
  makeSummaryJson,
  parsePythonJson,
  readSummaryJson,
  stringifyPythonJson,
  writeSummaryJson,
} from '../../sdk/evaluation/evaluator';
import { Summary } from '../../sdk/evaluation/summary';
import { configurationPairs, ensembleName, findBestConfiguration, modelSelectionCsv } from '../../sdk/model_selection/model_selection';

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

test('metrics: hand-computed confusion counts and v1 formulas', () => {
  const pred = new Uint8Array([1, 1, 0, 0, 2]);
  const gt = new Uint8Array([1, 0, 1, 0, 0]);
  const r = evaluateCase(pred, gt, [0, 1, 2, 3]);
  // label 1: tp 1, fp 1, fn 1, tn 2
  const l1 = r['1'];
  assert.deepEqual([l1.TP, l1.FP, l1.FN, l1.TN], [1, 1, 1, 2]);
  close(l1.Dice, 0.5, 'dice');
  close(l1.Jaccard, 1 / 3, 'jaccard');
  close(l1.Precision, 0.5, 'precision');
  close(l1.Recall, 0.5, 'recall');
  close(l1.Accuracy, 3 / 5, 'accuracy');
  close(l1['True Negative Rate'], 2 / 3, 'tnr');
  close(l1['False Positive Rate'], 1 / 3, 'fpr');
  close(l1['False Omission Rate'], 1 / 3, 'for');
  close(l1['Negative Predictive Value'], 2 / 3, 'npv');
  close(l1['False Discovery Rate'], 0.5, 'fdr');
  close(l1['False Negative Rate'], 0.5, 'fnr');
  assert.equal(l1['Total Positives Test'], 2);
  assert.equal(l1['Total Positives Reference'], 2);
  // label 2: predicted but absent from the reference -> Dice 0 (not NaN), recall NaN, precision 0
  assert.equal(r['2'].Dice, 0);
  assert.equal(r['2'].Jaccard, 0);
  assert.equal(r['2'].Precision, 0);
  assert.ok(Number.isNaN(r['2'].Recall));
  assert.ok(Number.isNaN(r['2']['False Negative Rate']));
  // label 3: empty in both -> Dice, Jaccard, Precision, Recall NaN; specificity defined
  for (const m of ['Dice', 'Jaccard', 'Precision', 'Recall']) assert.ok(Number.isNaN(r['3'][m]), m);
  assert.equal(r['3']['True Negative Rate'], 1);
  assert.equal(r['3'].Accuracy, 1);
  // label 0 covers voxels 2,3 (pred) and 1,3,4 (gt)
  assert.deepEqual([r['0'].TP, r['0'].FP, r['0'].FN, r['0'].TN], [1, 1, 2, 1]);
  // every v1 default metric is present, in v1's sorted order, followed by the counts
  assert.deepEqual(Object.keys(l1), [...V1_DEFAULT_METRICS, 'TP', 'FP', 'FN', 'TN']);
  assert.deepEqual([...V1_DEFAULT_METRICS], [...V1_DEFAULT_METRICS].sort());
});

test('metrics: empty prediction, full reference, nan_for_nonexisting=false, non-uint8 labels', () => {
  const emptyPred = evaluateCase(new Uint8Array(4), new Uint8Array([0, 1, 1, 0]), [1])['1'];
  assert.equal(emptyPred.Dice, 0);
  assert.ok(Number.isNaN(emptyPred.Precision));
  assert.equal(emptyPred.Recall, 0);
  const full = evaluateCase(new Uint8Array([1, 1, 0]), new Uint8Array([1, 1, 1]), [1])['1'];
  assert.ok(Number.isNaN(full['True Negative Rate']));
  assert.ok(Number.isNaN(full['False Positive Rate']));
  const noNan = computeMetrics(confusionCounts(new Uint8Array(3), new Uint8Array(3), [1])[0], false);
  assert.equal(noNan.Dice, 0);
  assert.equal(noNan.Precision, 0);
  assert.equal(noNan['False Discovery Rate'], 1);
  // values outside uint8 take the per-label path and agree with the histogram path
  const a = new Float32Array([300, 1, 1, -1, 0]);
  const b = new Float32Array([300, 1, 0, -1, 1]);
  const c = confusionCounts(a, b, [1, 300, -1]);
  assert.deepEqual([c[0].tp, c[0].fp, c[0].fn, c[0].tn], [1, 1, 1, 2]);
  assert.deepEqual([c[1].tp, c[1].fp, c[1].fn], [1, 0, 0]);
  assert.deepEqual([c[2].tp, c[2].fp, c[2].fn], [1, 0, 0]);
  assert.throws(() => confusionCounts(new Uint8Array(2), new Uint8Array(3), [1]), /shape mismatch/);
});

test('aggregate_scores: nanmean over cases, summary.json layout with NaN tokens, foreground mean', async () => {
  const cases = [
    // case a: label 1 perfect, label 2 absent in both (NaN)
    { test: new Uint8Array([1, 1, 0, 0]), reference: new Uint8Array([1, 1, 0, 0]), testName: '/p/a.nii.gz', referenceName: '/g/a.nii.gz' },
    // case b: label 1 Dice 0.5 (tp 1, fp 1, fn 1), label 2 Dice 0 (predicted, absent)
    { test: new Uint8Array([1, 1, 2, 0]), reference: new Uint8Array([1, 0, 0, 1]), testName: '/p/b.nii.gz', referenceName: '/g/b.nii.gz' },
  ];
  const res = aggregateScores(cases, [0, 1, 2]);
  assert.equal(res.all.length, 2);
  close(res.mean['1'].Dice, 0.75, 'mean dice 1');
  assert.equal(res.mean['2'].Dice, 0); // NaN of case a ignored
  assert.ok(Number.isNaN((res.all[0]['2'] as Record<string, number>).Dice));
  close(foregroundMeanDice(res), 0.375, 'fg mean');
  const s = makeSummaryJson(res, { name: 'x', task: 'Task004_Hippocampus' });
  assert.deepEqual(Object.keys(s), ['author', 'description', 'id', 'name', 'results', 'task', 'timestamp']);
  assert.equal(s.author, 'Fabian');
  assert.match(s.id, /^[0-9a-f]{12}$/);
  assert.match(s.timestamp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-eval-'));
  try {
    const f = path.join(dir, 'summary.json');
    await writeSummaryJson(f, s);
    const text = fs.readFileSync(f, 'utf8');
    assert.match(text, /"Dice": NaN/); // Python json spelling
    assert.match(text, /\n {4}"author"/); // indent 4 as save_json
    assert.ok(text.indexOf('"reference"') < text.indexOf('"test"')); // keys sorted
    const back = readSummaryJson(f);
    assert.ok(Number.isNaN(((back.results.all[0] as Record<string, unknown>)['2'] as Record<string, number>).Dice));
    close(back.results.mean['1'].Dice, 0.75, 'reloaded');
    addForegroundMean(back.results);
    close(back.results.mean['mean'].Dice, 0.375, 'foreground_mean nanmean');
    // Summary view
    const sum = Summary.fromFiles({ fold_0: f, fold_1: f });
    const t = sum.table();
    assert.equal(t.numRows(), 2 * 2 * 3);
    assert.deepEqual(t.columnNames().slice(0, 4), ['fold', 'case', 'label', 'Dice']);
    assert.deepEqual(sum.labels(), ['0', '1', '2']);
    const fig = sum.plot();
    assert.equal(fig.data.length, 2);
    assert.equal((fig.data[0].y as number[]).length, 3); // 2 cases x 2 fg labels minus the NaN one
    assert.equal(fig.layout.boxmode, 'group');
    assert.equal(sum.meanTable().numRows(), 2 * 3);
    close(sum.foregroundDice().fold_0, 0.375, 'summary fg dice');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => parsePythonJson('{"a": nope}', 'x.json'), /x\.json: invalid JSON/);
  assert.equal(stringifyPythonJson({ b: -Infinity, a: [NaN, 1] }, 0), '{"a":[NaN,1],"b":-Infinity}');
});

test('model selection: highest mean foreground Dice, ties go to the last candidate, ensemble naming', () => {
  assert.equal(
    ensembleName('2d', '3d_cascade_fullres'),
    'ensemble_2d__nnUNetTrainerV2__nnUNetPlansv2.1--3d_cascade_fullres__nnUNetTrainerV2CascadeFullRes__nnUNetPlansv2.1',
  );
  assert.deepEqual(configurationPairs(['2d', '3d_fullres', '3d_lowres']), [
    ['2d', '3d_fullres'],
    ['2d', '3d_lowres'],
    ['3d_fullres', '3d_lowres'],
  ]);
  const e = ensembleName('2d', '3d_fullres');
  const r = findBestConfiguration(
    [
      ['2d', 0.8],
      ['3d_fullres', 0.85],
    ],
    [[e, 0.85]],
  );
  assert.equal(r.best, e); // tie with 3d_fullres: the ensemble comes later and wins
  assert.deepEqual(r.members, ['2d', '3d_fullres']);
  const r2 = findBestConfiguration({ '2d': 0.9, '3d_fullres': 0.85 }, { [e]: 0.89 });
  assert.equal(r2.best, '2d');
  assert.equal(r2.isEnsemble, false);
  assert.equal(findBestConfiguration([['2d', NaN], ['3d_fullres', 0.5]]).best, null); // np.max propagates NaN
  const csv = modelSelectionCsv({ '2d': { '1': { Dice: 0.5 }, '2': { Dice: 0.25 }, mean: { Dice: 0.375 } } }, 2);
  assert.equal(csv, 'model,class1,class2,average\n2d,0.5000,0.2500,0.3750\n');
});
