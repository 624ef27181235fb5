/** Evaluation: v1 metrics and summary.json, Summary view, folder evaluation (postprocessing: sdk/postprocessing; model selection: sdk/model_selection). */
export * from './metrics';
export {
  evaluateCase,
  aggregateScores,
  aggregateScoresLazy,
  addForegroundMean,
  foregroundMeanDice,
  makeSummaryJson,
  readSummaryJson,
  writeSummaryJson,
  nanmean,
  stringifyPythonJson,
  parsePythonJson,
  readPythonJsonSync,
  writePythonJson,
  writePythonJsonSync,
} from './evaluator';
export type { CaseScores, EvaluationResults, SummaryJson, EvaluationCase, EvaluateOptions } from './evaluator';
export { Summary, caseIdFromPath } from './summary';
export type { SummaryRow } from './summary';
export { niftiFilesIn, evaluateFolder } from './folders';
