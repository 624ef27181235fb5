/**
 * The reproduction protocol as a graph of steps (nnU-Net v1's order, as the nnU-Net paper's protocol runs it):
 *
 *   plan_and_preprocess ─┬─> train.2d.fold_k ──────────────────────────────┐
 *                        ├─> train.3d_fullres.fold_k ─────────────────────┤
 *                        └─> train.3d_lowres.fold_k ─> pred_next_stage ─> train.3d_cascade_fullres.fold_k
 *                                                                          └─> find_best_configuration ─> predict
 *
 * Every executor (local.ts: processes on this machine; slurm.ts: sbatch job arrays) runs this same graph, and every
 * step runs through the same code (steps.ts), so a cluster run and a local run do identical work. Steps of one
 * `group` differ only by fold: Slurm submits a group as one job array whose task index is the fold.
 * Pure: no file system (status.ts reads the files).
 */
import type { ProtocolSpec } from './spec';

export type StepKind = 'plan_and_preprocess' | 'train' | 'pred_next_stage' | 'find_best_configuration' | 'predict';

export interface ProtocolStep {
  /** `plan_and_preprocess`, `train.3d_fullres.fold_2`, `pred_next_stage`, `find_best_configuration`, `predict` */
  id: string;
  kind: StepKind;
  configuration?: string;
  fold?: number;
  /** ids of the steps whose outputs this one reads */
  deps: string[];
  /** steps of one group form one Slurm job array (index = fold); a group is its steps' id without the fold */
  group: string;
  /** what the step needs: training wants the accelerator, the rest CPU and memory */
  resources: 'gpu' | 'cpu';
}

export interface ProtocolGraph {
  steps: ProtocolStep[];
}

export function trainStepId(configuration: string, fold: number): string {
  return `train.${configuration}.fold_${fold}`;
}

/** The step ids as the graph lists them (topological order: every step after its dependencies). */
export function buildProtocolGraph(spec: ProtocolSpec): ProtocolGraph {
  const steps: ProtocolStep[] = [];
  const plan: ProtocolStep = { id: 'plan_and_preprocess', kind: 'plan_and_preprocess', deps: [], group: 'plan_and_preprocess', resources: 'cpu' };
  steps.push(plan);
  const trains: string[] = [];
  const addTrain = (configuration: string, deps: string[]) => {
    for (const fold of spec.folds) {
      const id = trainStepId(configuration, fold);
      steps.push({ id, kind: 'train', configuration, fold, deps, group: `train.${configuration}`, resources: 'gpu' });
      trains.push(id);
    }
  };
  for (const c of spec.configurations) if (c !== '3d_cascade_fullres') addTrain(c, [plan.id]);
  if (spec.configurations.includes('3d_cascade_fullres')) {
    const lowres = spec.folds.map((k) => trainStepId('3d_lowres', k));
    steps.push({ id: 'pred_next_stage', kind: 'pred_next_stage', configuration: '3d_lowres', deps: lowres, group: 'pred_next_stage', resources: 'gpu' });
    addTrain('3d_cascade_fullres', ['pred_next_stage']);
  }
  steps.push({ id: 'find_best_configuration', kind: 'find_best_configuration', deps: trains, group: 'find_best_configuration', resources: 'cpu' });
  if (spec.predict) steps.push({ id: 'predict', kind: 'predict', deps: ['find_best_configuration'], group: 'predict', resources: 'gpu' });
  return { steps };
}

export function stepById(g: ProtocolGraph, id: string): ProtocolStep {
  const s = g.steps.find((x) => x.id === id);
  if (!s) throw new Error(`no step '${id}' in this protocol (steps: ${g.steps.map((x) => x.id).join(', ')})`);
  return s;
}

/** Groups in graph order with their steps (a group's steps share dependencies, up to the fold). */
export function stepGroups(g: ProtocolGraph): { group: string; steps: ProtocolStep[] }[] {
  const out: { group: string; steps: ProtocolStep[] }[] = [];
  for (const s of g.steps) {
    const e = out.find((x) => x.group === s.group);
    if (e) e.steps.push(s);
    else out.push({ group: s.group, steps: [s] });
  }
  return out;
}

/** Depth of each step (longest path from a step without dependencies): the columns of the graph figure. */
export function stepDepths(g: ProtocolGraph): Map<string, number> {
  const depth = new Map<string, number>();
  for (const s of g.steps) depth.set(s.id, s.deps.length ? Math.max(...s.deps.map((d) => depth.get(d) ?? 0)) + 1 : 0);
  return depth;
}

/** Every step that (transitively) depends on `id`. */
export function dependentsOf(g: ProtocolGraph, id: string): Set<string> {
  const out = new Set<string>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const s of g.steps)
      if (!out.has(s.id) && s.deps.some((d) => d === id || out.has(d))) {
        out.add(s.id);
        grew = true;
      }
  }
  return out;
}
