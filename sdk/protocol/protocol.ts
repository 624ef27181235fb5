/**
 * `task.protocol({...})`: the whole reproduction protocol of a task as one inspectable object (nnU-Net paper:
 * plan and preprocess, train every configuration on 5 folds, the cascade's previous stage, model selection, test
 * prediction). Print it, table it, draw its graph with each step's state, run it here (`run({ jobs })`) or submit
 * it to Slurm (`submit({...})`).
 *
 * @example
 *   const p = task.protocol({ configurations: ['2d', '3d_fullres'], folds: [0, 1, 2, 3, 4] });
 *   show(p.figure());          // before: every step waiting
 *   await p.run({ jobs: 2 });
 *   show(p.figure());          // after: every step done
 */
import * as fs from 'fs';
import * as path from 'path';
import * as aq from 'arquero';
import { graphFigure } from '../viz/graph_figure';
import type { Figure } from '../viz/figure';
import { buildProtocolGraph, type ProtocolGraph } from './graph';
import { PROTOCOL_CONFIGURATIONS, validateSpec, type ProtocolSpec, type ProtocolTraining } from './spec';
import { ProtocolStore } from './store';
import { formatStatus, protocolStatus, type CaseIdsFn, type StepStatus } from './status';
import { runLocal, type LocalRunOptions, type LocalRunResult } from './local';
import { cancelSlurm, readQueue, submitSlurm, type SlurmOptions, type SubmitResult } from './slurm';

export interface ProtocolOptions {
  /** default: all four of nnU-Net v1 (those the plans do not create are skipped) */
  configurations?: string[];
  /** default 0 1 2 3 4 */
  folds?: number[];
  preset?: 'nnUNetPlansv2.1' | 'nnUNetPlans';
  gpuMemoryTargetGB?: number;
  training?: ProtocolTraining;
  disableEnsembling?: boolean;
  /**
   * test prediction with the selected model: default the task's imagesTs (when it exists) into
   * <results>/<task>/protocol_test_predictions; false: none. Mirroring TTA defaults to the training's validation
   * setting (`training.mirroring`, default true as v1).
   */
  predict?: { input?: string; output?: string; mirroring?: boolean } | false;
}

/** What the protocol needs of a task: where it is, its roots, its case ids. */
export interface ProtocolTaskLike {
  dir: string;
  caseIds: string[];
  paths: { preprocessedRoot: string; resultsRoot: string; results: string };
}

export function protocolSpecFor(task: ProtocolTaskLike, o: ProtocolOptions = {}): ProtocolSpec {
  const imagesTs = path.join(task.dir, 'imagesTs');
  const predict =
    o.predict === false
      ? null
      : o.predict?.input || fs.existsSync(imagesTs)
        ? { input: path.resolve(o.predict?.input ?? imagesTs), output: path.resolve(o.predict?.output ?? path.join(task.paths.results, 'protocol_test_predictions')), mirroring: o.predict?.mirroring ?? o.training?.mirroring }
        : null;
  return validateSpec(
    {
      version: 1,
      task: path.resolve(task.dir),
      roots: { preprocessed: task.paths.preprocessedRoot, results: task.paths.resultsRoot },
      plans: { preset: o.preset ?? 'nnUNetPlansv2.1', gpuMemoryTargetGB: o.gpuMemoryTargetGB },
      configurations: o.configurations ?? [...PROTOCOL_CONFIGURATIONS],
      folds: o.folds ?? [0, 1, 2, 3, 4],
      training: o.training ?? {},
      modelSelection: { disableEnsembling: o.disableEnsembling },
      predict,
    },
    `protocol of ${task.dir}`,
  );
}

export class Protocol {
  readonly store: ProtocolStore;
  readonly graph: ProtocolGraph;

  constructor(
    readonly spec: ProtocolSpec,
    private readonly caseIds: CaseIdsFn,
  ) {
    this.store = ProtocolStore.of(spec);
    this.graph = buildProtocolGraph(spec);
  }

  /** Each step's state, with the Slurm queue when squeue answers (else from the files alone). */
  status(): StepStatus[] {
    return protocolStatus(this.spec, this.store, this.caseIds, readQueue(this.spec));
  }

  table(): aq.ColumnTable {
    const st = this.status();
    return aq.from(
      this.graph.steps.map((s) => {
        const x = st.find((r) => r.step === s.id)!;
        return { step: s.id, state: x.state, depends_on: s.deps.join(' '), job: x.jobId ?? '', detail: x.detail ?? '', log: x.log ?? '' };
      }),
    );
  }

  /**
   * The graph: steps in columns by depth, arrows for dependencies, coloured by state. `liveState`: the figure shows
   * a moment that differs between runs (before a run), see GraphFigureOptions.
   */
  figure(title?: string, o: { liveState?: boolean } = {}): Figure {
    const st = new Map(this.status().map((s) => [s.step, s]));
    return graphFigure(
      this.graph.steps.map((s) => {
        const x = st.get(s.id)!;
        return {
          id: s.id,
          label: s.kind === 'train' ? `${s.configuration} f${s.fold}` : s.id.replace(/_/g, ' '),
          deps: s.deps,
          state: x.state,
          hover: [s.id, x.state, x.detail, x.jobId ? `job ${x.jobId}` : '', x.log ? `log ${x.log}` : ''].filter(Boolean).join('<br>'),
        };
      }),
      { title: title ?? `Protocol of ${path.basename(this.spec.task)} (${this.spec.configurations.join(', ')}; folds ${this.spec.folds.join(' ')})`, liveState: o.liveState },
    );
  }

  /** Runs the graph on this machine, `jobs` steps at a time; complete steps are skipped, interrupted ones resume. */
  run(o: LocalRunOptions = {}): Promise<LocalRunResult> {
    return runLocal(this.spec, this.caseIds, o);
  }

  /** Writes the sbatch scripts and (unless dryRun) submits them. */
  submit(o: SlurmOptions & { dryRun?: boolean } = {}): SubmitResult {
    return submitSlurm(this.spec, this.caseIds, o);
  }

  /** scancel this protocol's queued and running jobs. */
  cancel(): string[] {
    return cancelSlurm(this.spec);
  }

  summary(): string {
    return `protocol ${this.store.specFile}\n${formatStatus(this.status())}`;
  }

  toString(): string {
    return this.summary();
  }
}
