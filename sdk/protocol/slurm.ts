/**
 * The `slurm` executor: a thin writer of sbatch scripts over the same graph. One job per group: a job array over the
 * folds for each configuration's trainings (task index = fold), one job for each other step; `afterok` edges between
 * them; `--requeue` with `--signal=B:USR1@<lead>` so a training near its time limit checkpoints at the next epoch end
 * and the job requeues itself to resume (the script turns exit status 99 into `scontrol requeue`).
 *
 * Re-submitting is safe: complete steps are not submitted, steps running now are not submitted again (the new jobs
 * depend on the running ones), and this protocol's pending jobs are cancelled first and submitted afresh, so their
 * dependency edges point at live jobs (a job whose dependency failed or was cancelled would wait forever).
 * Every step also takes a lock when it starts (store.ts), so no step ever runs twice at once.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomicSync, writeJsonAtomicSync } from '../io/atomic';
import { buildProtocolGraph, stepGroups, type ProtocolStep } from './graph';
import type { ProtocolSpec } from './spec';
import { EXIT_INTERRUPTED, ProtocolStore } from './store';
import { protocolStatus, type CaseIdsFn, type QueueView, type StepStatus } from './status';
import { cliInvocation } from './local';

/** Per-step resources; training (and prediction) steps use `train*` where given. */
export interface SlurmOptions {
  partition?: string;
  /** partition of the GPU steps (training, pred_next_stage, predict); default `partition` */
  gpuPartition?: string;
  /** generic resources of the GPU steps, e.g. `gpu:1` */
  gres?: string;
  /** cpus per task (default 4 for GPU steps: augmentation workers; 8 for planning/preprocessing) */
  cpus?: number;
  gpuCpus?: number;
  /** memory per job, e.g. `32G` */
  mem?: string;
  gpuMem?: string;
  /** time limit of CPU steps and of GPU steps, e.g. `4:00:00` and `48:00:00` */
  time?: string;
  gpuTime?: string;
  account?: string;
  qos?: string;
  /** seconds before the time limit at which a training is asked to checkpoint (default 900: > one Lung epoch) */
  signalLeadSeconds?: number;
  /** more `#SBATCH` lines, e.g. `--constraint=a100` */
  extraDirectives?: string[];
  /** shell lines run before the step, e.g. `module load nodejs/20` */
  setup?: string[];
  /** the command that runs nnunet-ts on the compute nodes (default this installation, with this node binary) */
  command?: string[];
}

export interface GroupJob {
  group: string;
  steps: string[];
  script: string;
  scriptFile: string;
  /** `afterok:...` (empty: none) */
  dependency: string;
  jobId: string | null;
}

export interface SubmitResult {
  jobs: GroupJob[];
  /** steps not submitted: complete, or running under an earlier job */
  notSubmitted: { step: string; state: string; jobId?: string }[];
  cancelled: string[];
  dryRun: boolean;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function jobNamePrefix(spec: ProtocolSpec): string {
  return `nnunet-ts.${path.basename(path.resolve(spec.task))}.`;
}

function slurmCommand(cmd: string, args: string[]): { ok: boolean; out: string; err: string; missing: boolean } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  const missing = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  return { ok: r.status === 0, out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error ? String(r.error.message) : ''), missing };
}

/** This protocol's jobs in the queue (squeue -r: one row per array task), or null when squeue is not there. */
export function readQueue(spec: ProtocolSpec): QueueView | null {
  const r = slurmCommand('squeue', ['-h', '-r', '-o', '%i|%j|%T']);
  if (r.missing || !r.ok) return null;
  const prefix = jobNamePrefix(spec);
  const pending = new Map<string, string>();
  const running = new Map<string, string>();
  const alive = new Set<string>();
  for (const line of r.out.split('\n')) {
    const [id, name, state] = line.trim().split('|');
    if (!id) continue;
    alive.add(id);
    const base = id.split('_')[0];
    alive.add(base);
    if (!name?.startsWith(prefix)) continue;
    const group = name.slice(prefix.length);
    const idx = id.includes('_') ? id.split('_')[1] : null;
    const step = group.startsWith('train.') && idx !== null ? `${group}.fold_${idx}` : group;
    if (state === 'PENDING' || state === 'REQUEUED' || state === 'REQUEUE_HOLD' || state === 'CONFIGURING') pending.set(step, id);
    else if (state === 'RUNNING' || state === 'COMPLETING' || state === 'SUSPENDED') running.set(step, id);
  }
  return { pending, running, jobAlive: (jobId: string) => alive.has(jobId) || alive.has(jobId.split('_')[0]) };
}

/** One step group's sbatch script. */
export function sbatchScript(spec: ProtocolSpec, group: string, steps: ProtocolStep[], o: SlurmOptions, store: ProtocolStore): string {
  const gpu = steps[0].resources === 'gpu';
  const array = steps[0].kind === 'train';
  const logs = store.logDir;
  const lead = o.signalLeadSeconds ?? 900;
  // GPU steps take the gpu* option where given, else the common one
  const partition = gpu ? (o.gpuPartition ?? o.partition) : o.partition;
  const mem = gpu ? (o.gpuMem ?? o.mem) : o.mem;
  const time = gpu ? (o.gpuTime ?? o.time) : o.time;
  const d: string[] = [
    `--job-name=${jobNamePrefix(spec)}${group}`,
    array ? `--array=${steps.map((s) => s.fold).join(',')}` : '',
    `--output=${path.join(logs, array ? `${group}.fold_%a.job_%A.log` : `${group}.job_%j.log`)}`,
    '--open-mode=append',
    '--requeue',
    `--signal=B:USR1@${lead}`,
    '--nodes=1',
    '--ntasks=1',
    `--cpus-per-task=${gpu ? (o.gpuCpus ?? o.cpus ?? 4) : (o.cpus ?? 8)}`,
    partition ? `--partition=${partition}` : '',
    gpu && o.gres ? `--gres=${o.gres}` : '',
    mem ? `--mem=${mem}` : '',
    time ? `--time=${time}` : '',
    o.account ? `--account=${o.account}` : '',
    o.qos ? `--qos=${o.qos}` : '',
    ...(o.extraDirectives ?? []),
  ].filter(Boolean);
  const cmd = (o.command ?? cliInvocation()).map(q).join(' ');
  const stepExpr = array ? `${group}.fold_\${SLURM_ARRAY_TASK_ID}` : group;
  const jobExpr = array ? '${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}' : '${SLURM_JOB_ID}';
  const logExpr = path.join(logs, array ? `${group}.fold_\${SLURM_ARRAY_TASK_ID}.job_\${SLURM_ARRAY_JOB_ID}.log` : `${group}.job_\${SLURM_JOB_ID}.log`);
  return [
    '#!/bin/bash',
    ...d.map((x) => `#SBATCH ${x}`),
    `# nnunet-ts protocol: ${steps.map((s) => s.id).join(' ')}`,
    '# Written by `nnunet-ts protocol submit`; submitting again rewrites it. The step itself checks its inputs, takes',
    '# its lock and records its outcome (protocol/steps/); exit status 99 = checkpointed before the time limit.',
    'set -u',
    ...(o.setup ?? []),
    `cd ${q(process.cwd())}`,
    `STEP="${stepExpr}"`,
    `JOB="${jobExpr}"`,
    `LOG="${logExpr}"`,
    'export NNUNET_PROGRESS=0',
    `echo "nnunet-ts: $STEP on $(hostname), job $JOB, $(date -Is)"`,
    `${cmd} protocol step --spec ${q(store.specFile)} --step "$STEP" --job-id "$JOB" --log "$LOG" &`,
    'PID=$!',
    // the batch shell gets USR1 (--signal=B:) before the time limit: the step checkpoints and the job requeues
    // itself; TERM (scancel, preemption) only checkpoints: a cancelled job stays cancelled
    'REQUEUE=0',
    `trap 'echo "nnunet-ts: time limit near: $STEP checkpoints at its next epoch end"; REQUEUE=1; kill -USR1 $PID' USR1`,
    `trap 'kill -TERM $PID' TERM`,
    'RC=0',
    // `wait` returns early when a trapped signal arrives: wait until the step process is really gone
    'while :; do wait $PID; RC=$?; kill -0 $PID 2>/dev/null || break; done',
    `if [ $RC -eq ${EXIT_INTERRUPTED} ] && [ $REQUEUE -eq 1 ]; then echo "nnunet-ts: $STEP checkpointed; requeueing job $SLURM_JOB_ID"; scontrol requeue "$SLURM_JOB_ID"; fi`,
    'exit $RC',
    '',
  ].join('\n');
}

/**
 * Writes the scripts of every group with unfinished steps and (unless dryRun) submits them with sbatch, in graph
 * order, each depending (afterok) on the jobs of its dependencies that are submitted now or still running.
 */
export function submitSlurm(spec: ProtocolSpec, caseIds: CaseIdsFn, o: SlurmOptions & { dryRun?: boolean } = {}): SubmitResult {
  const store = ProtocolStore.of(spec);
  const g = buildProtocolGraph(spec);
  const dryRun = Boolean(o.dryRun);
  let queue = readQueue(spec);
  if (!queue && !dryRun) throw new Error(`squeue failed or is not installed: is this a Slurm login node? (use --dry-run to only write the scripts)`);
  const cancelled: string[] = [];
  if (queue && !dryRun && queue.pending.size) {
    const ids = [...new Set([...queue.pending.values()])];
    const r = slurmCommand('scancel', ids);
    if (!r.ok) throw new Error(`scancel ${ids.join(' ')} failed: ${r.err.trim()}`);
    cancelled.push(...ids);
    queue = readQueue(spec);
  }
  if (!dryRun) store.writeSpec(spec);
  fs.mkdirSync(store.logDir, { recursive: true });
  const status = protocolStatus(spec, store, caseIds, queue);
  const state = new Map(status.map((s) => [s.step, s]));
  /** the job a step's dependents wait on: one submitted now, or the one running it */
  const handle = new Map<string, string>();
  for (const s of status) if (s.state === 'running' && s.jobId && /^\d+(_\d+)?$/.test(s.jobId)) handle.set(s.step, s.jobId);
  const jobs: GroupJob[] = [];
  const notSubmitted: SubmitResult['notSubmitted'] = [];
  for (const { group, steps } of stepGroups(g)) {
    const todo = steps.filter((s) => {
      const st = state.get(s.id)!;
      if (st.state === 'done' || st.state === 'skipped' || st.state === 'running') {
        notSubmitted.push({ step: s.id, state: st.state, jobId: st.jobId });
        return false;
      }
      return true;
    });
    if (!todo.length) continue;
    const deps = [...new Set(todo.flatMap((s) => s.deps))].map((d) => handle.get(d)).filter((x): x is string => Boolean(x));
    const dependency = deps.length ? `afterok:${[...new Set(deps)].join(':')}` : '';
    const script = sbatchScript(spec, group, todo, o, store);
    const scriptFile = path.join(store.slurmDir, `${group}.sbatch`);
    if (!dryRun) writeFileAtomicSync(scriptFile, script);
    let jobId: string | null = null;
    if (!dryRun) {
      const args = ['--parsable', ...(dependency ? [`--dependency=${dependency}`, '--kill-on-invalid-dep=yes'] : []), scriptFile];
      const r = slurmCommand('sbatch', args);
      if (!r.ok) throw new Error(`sbatch ${args.join(' ')} failed: ${r.err.trim()} (jobs submitted so far: ${jobs.map((j) => `${j.group}=${j.jobId}`).join(', ') || 'none'})`);
      jobId = r.out.trim().split(';')[0];
      for (const s of todo) handle.set(s.id, jobId);
    } else {
      for (const s of todo) handle.set(s.id, `<${group}>`);
    }
    jobs.push({ group, steps: todo.map((s) => s.id), script, scriptFile, dependency, jobId });
  }
  if (!dryRun) {
    const file = path.join(store.slurmDir, 'jobs.json');
    let history: unknown[] = [];
    try {
      history = (JSON.parse(fs.readFileSync(file, 'utf8')) as { submissions: unknown[] }).submissions ?? [];
    } catch {
      history = [];
    }
    history.push({ time: new Date().toISOString(), cancelled, jobs: jobs.map(({ script: _s, ...j }) => j) });
    writeJsonAtomicSync(file, { submissions: history });
  }
  return { jobs, notSubmitted, cancelled, dryRun };
}

/** scancel every queued or running job of this protocol; returns their ids. */
export function cancelSlurm(spec: ProtocolSpec): string[] {
  const r = slurmCommand('squeue', ['-h', '-o', '%i|%j']);
  if (r.missing || !r.ok) throw new Error(`squeue failed: ${r.err.trim() || 'not installed'}`);
  const prefix = jobNamePrefix(spec);
  const ids = r.out
    .split('\n')
    .map((l) => l.trim().split('|'))
    .filter(([id, name]) => id && name?.startsWith(prefix))
    .map(([id]) => id);
  if (ids.length) {
    const c = slurmCommand('scancel', ids);
    if (!c.ok) throw new Error(`scancel failed: ${c.err.trim()}`);
  }
  return ids;
}

/** Human-readable summary of a submission. */
export function formatSubmit(r: SubmitResult): string {
  const lines: string[] = [];
  if (r.cancelled.length) lines.push(`cancelled pending jobs (resubmitted below with fresh dependencies): ${r.cancelled.join(' ')}`);
  for (const j of r.jobs) lines.push(`${r.dryRun ? 'would submit' : `job ${j.jobId}`}  ${j.group}  [${j.steps.join(' ')}]${j.dependency ? `  --dependency=${j.dependency}` : ''}`);
  for (const s of r.notSubmitted) lines.push(`not submitted  ${s.step}: ${s.state}${s.jobId ? ` (${s.jobId})` : ''}`);
  if (!r.jobs.length) lines.push('nothing to submit: every step is complete or running');
  return lines.join('\n');
}

export type { StepStatus };
