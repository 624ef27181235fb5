import * as fs from 'fs';
import * as path from 'path';
import type { CommandSpec, ParsedArgs } from '../args';
import { UsageError } from '../args';
import { Task } from '../../task';
import { Protocol, protocolSpecFor, type ProtocolOptions } from '../../protocol/protocol';
import { ProtocolStore, EXIT_INTERRUPTED } from '../../protocol/store';
import { formatStatus } from '../../protocol/status';
import { formatSubmit, readQueue, type SlurmOptions } from '../../protocol/slurm';
import { runStep, loadProtocolTask } from '../../protocol/steps';
import { toHTML } from '../../viz/render';
import { FOLDER_FLAGS, taskOptionsFrom } from './common';

const ACTIONS = ['run', 'submit', 'status', 'cancel', 'step'] as const;

function int(v: unknown, name: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new UsageError(`${name} needs an integer >= ${min}, got '${v}'`);
  return v;
}

function protocolOptions(flags: ParsedArgs['flags']): ProtocolOptions {
  const folds = (flags.folds as string[] | undefined)?.map((s) => {
    const k = Number(s);
    if (!Number.isInteger(k) || k < 0 || k > 4) throw new UsageError(`folds are 0..4, got '${s}'`);
    return k;
  });
  const preset = flags.preset as string;
  if (preset !== 'nnUNetPlansv2.1' && preset !== 'nnUNetPlans') throw new UsageError(`unknown preset '${preset}'`);
  const gpu = flags['gpu-memory-target'] as number | undefined;
  if (gpu !== undefined && !(gpu > 0)) throw new UsageError(`--gpu-memory-target must be a positive number of GB, got ${gpu}`);
  return {
    configurations: flags.configurations as string[] | undefined,
    folds,
    preset,
    gpuMemoryTargetGB: gpu,
    training: {
      epochs: int(flags.epochs, '--epochs', 1),
      iterationsPerEpoch: int(flags.iterations, '--iterations', 1),
      validationIterations: int(flags['val-iterations'], '--val-iterations', 0),
      seed: flags.seed as number | undefined,
      checkpointEvery: int(flags['checkpoint-every'], '--checkpoint-every', 1),
      gradientWorkers: int(flags['gradient-workers'], '--gradient-workers', 0),
      mirroring: flags['disable-tta'] ? false : undefined,
    },
    disableEnsembling: Boolean(flags['disable-ensembling']),
    predict: flags['no-predict'] ? false : { input: flags['test-input'] as string | undefined, output: flags['test-output'] as string | undefined, mirroring: flags['disable-tta'] ? false : undefined },
  };
}

function slurmOptions(flags: ParsedArgs['flags']): SlurmOptions {
  return {
    partition: flags.partition as string | undefined,
    gpuPartition: flags['gpu-partition'] as string | undefined,
    gres: flags.gres as string | undefined,
    cpus: int(flags.cpus, '--cpus', 1),
    gpuCpus: int(flags['gpu-cpus'], '--gpu-cpus', 1),
    mem: flags.mem as string | undefined,
    gpuMem: flags['gpu-mem'] as string | undefined,
    time: flags.time as string | undefined,
    gpuTime: flags['gpu-time'] as string | undefined,
    account: flags.account as string | undefined,
    qos: flags.qos as string | undefined,
    signalLeadSeconds: int(flags['signal-lead'], '--signal-lead', 1),
    extraDirectives: flags.sbatch as string[] | undefined,
    setup: flags.setup as string[] | undefined,
  };
}

/** The protocol of `-t TASK`: from the options (run, submit), or the protocol.json written earlier (status, cancel). */
async function protocolOf(flags: ParsedArgs['flags'], fromFile: boolean): Promise<Protocol> {
  const specFile = flags.spec as string | undefined;
  if (specFile) {
    const spec = ProtocolStore.readSpec(specFile);
    const task = await loadProtocolTask(spec);
    return new Protocol(spec, () => task.caseIds);
  }
  const input = flags.task as string | undefined;
  if (!input) throw new UsageError('-t TASK_DIR (or --spec protocol.json) is required');
  const options = protocolOptions(flags);
  if (!fs.existsSync(input)) throw new Error(`${input}: no such task folder`);
  const task = await Task.load(input, taskOptionsFrom(flags));
  const built = protocolSpecFor(task, options);
  const store = ProtocolStore.of(built);
  const spec = fromFile && fs.existsSync(store.specFile) ? ProtocolStore.readSpec(store.specFile) : built;
  return new Protocol(spec, () => task.caseIds);
}

/** `protocol step`: one step, as a job runs it; the time-limit signal (USR1), scancel (TERM) or Ctrl-C checkpoint it. */
async function stepAction(flags: ParsedArgs['flags']): Promise<number> {
  const specFile = flags.spec as string | undefined;
  const step = flags.step as string | undefined;
  if (!specFile || !step) throw new UsageError('protocol step needs --spec protocol.json and --step ID');
  const spec = ProtocolStore.readSpec(specFile);
  const ac = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (sig === 'SIGINT' && signals > 1) process.exit(130);
    console.log(`nnunet-ts: ${sig}: ${step} stops at its next epoch end, with a checkpoint`);
    ac.abort();
  };
  for (const s of ['SIGUSR1', 'SIGTERM', 'SIGINT'] as const) process.on(s, onSignal);
  try {
    const outcome = await runStep(spec, step, { jobId: flags['job-id'] as string | undefined, log: flags.log as string | undefined, signal: ac.signal, jobAlive: readQueue(spec)?.jobAlive });
    return outcome === 'interrupted' ? EXIT_INTERRUPTED : 0;
  } finally {
    for (const s of ['SIGUSR1', 'SIGTERM', 'SIGINT'] as const) process.off(s, onSignal);
  }
}

/** The protocol as a job graph (issue: plan -> train config x fold -> pred_next_stage -> cascade -> selection -> predict). */
export const protocolCommand: CommandSpec = {
  name: 'protocol',
  summary: 'the whole protocol as a job graph: run it here (--jobs N) or submit it to Slurm; status, cancel',
  usage: [
    'protocol run    -t TASK_DIR [-c 2d 3d_fullres ...] [-f 0 1 2 3 4] [--jobs N] [training options]',
    '       protocol submit -t TASK_DIR --scheduler slurm|local [-c ...] [-f ...] [--partition P --gres gpu:1 --gpu-time 48:00:00 ...] [--dry-run]',
    '       protocol status -t TASK_DIR [--html graph.html]   (or --spec <results>/<task>/protocol/protocol.json)',
    '       protocol cancel -t TASK_DIR',
    '       protocol step --spec protocol.json --step ID   (what each job runs)',
  ].join('\n'),
  flags: [
    { name: 'task', alias: 't', type: 'string', help: 'raw task folder (MSD or v2 layout)' },
    { name: 'spec', type: 'string', help: 'a protocol.json (written by run/submit) instead of -t and the options' },
    { name: 'configurations', alias: 'c', type: 'list', help: 'configurations (default 2d 3d_lowres 3d_fullres 3d_cascade_fullres; unplanned ones are skipped)' },
    { name: 'folds', alias: 'f', type: 'list', help: 'folds (default 0 1 2 3 4)' },
    { name: 'preset', type: 'string', help: 'plans preset', default: 'nnUNetPlansv2.1' },
    { name: 'gpu-memory-target', type: 'number', help: 'plans for this GPU memory in GB' },
    { name: 'epochs', type: 'number', help: 'epochs per training (v1: 1000)' },
    { name: 'iterations', type: 'number', help: 'iterations per epoch (v1: 250)' },
    { name: 'val-iterations', type: 'number', help: 'validation iterations per epoch (v1: 50)' },
    { name: 'seed', type: 'number', help: 'training seed' },
    { name: 'checkpoint-every', type: 'number', help: 'checkpoint_latest every N epochs (v1: 50)' },
    { name: 'gradient-workers', type: 'number', help: 'extra gradient workers per training' },
    { name: 'disable-ensembling', type: 'boolean', help: 'model selection without pair ensembles' },
    { name: 'disable-tta', type: 'boolean', help: 'no mirroring in validation and test prediction' },
    { name: 'test-input', type: 'string', help: 'test images to predict with the selected model (default TASK/imagesTs)' },
    { name: 'test-output', type: 'string', help: 'where the test predictions go (default <results>/<task>/protocol_test_predictions)' },
    { name: 'no-predict', type: 'boolean', help: 'stop after model selection' },
    { name: 'jobs', alias: 'j', type: 'number', help: 'local: steps at a time', default: 1 },
    { name: 'scheduler', type: 'string', help: 'submit: slurm or local', default: 'slurm' },
    { name: 'dry-run', type: 'boolean', help: 'submit: print the sbatch scripts, submit nothing' },
    { name: 'partition', type: 'string', help: 'Slurm partition (all steps)' },
    { name: 'gpu-partition', type: 'string', help: 'Slurm partition of the GPU steps (training, prediction)' },
    { name: 'gres', type: 'string', help: 'GPU steps: generic resources, e.g. gpu:1' },
    { name: 'cpus', type: 'number', help: 'cpus per CPU step (default 8)' },
    { name: 'gpu-cpus', type: 'number', help: 'cpus per GPU step (default 4)' },
    { name: 'mem', type: 'string', help: 'memory per CPU step, e.g. 32G' },
    { name: 'gpu-mem', type: 'string', help: 'memory per GPU step' },
    { name: 'time', type: 'string', help: 'time limit of CPU steps, e.g. 4:00:00' },
    { name: 'gpu-time', type: 'string', help: 'time limit of GPU steps; a training past it checkpoints and requeues' },
    { name: 'account', type: 'string', help: 'Slurm account' },
    { name: 'qos', type: 'string', help: 'Slurm QOS' },
    { name: 'signal-lead', type: 'number', help: 'seconds before the time limit to checkpoint (default 900)' },
    { name: 'sbatch', type: 'list', help: 'extra #SBATCH directives, e.g. --sbatch --constraint=a100' },
    { name: 'setup', type: 'list', help: 'shell lines run first in each job, e.g. "module load nodejs/20"' },
    { name: 'html', type: 'string', help: 'status: also write the graph, coloured by state, as a self-contained HTML page' },
    { name: 'step', type: 'string', help: 'step: the step id' },
    { name: 'job-id', type: 'string', help: 'step: the Slurm job id (recorded in the lock)' },
    { name: 'log', type: 'string', help: 'step: the log file of this run (recorded)' },
    ...FOLDER_FLAGS,
  ],
  async run({ positionals, flags }) {
    const [action, ...extra] = positionals;
    if (!action || !(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`protocol needs an action: ${ACTIONS.join(', ')}`);
    if (extra.length) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
    if (action === 'step') return stepAction(flags);
    const scheduler = flags.scheduler as string;
    if (scheduler !== 'slurm' && scheduler !== 'local') throw new UsageError(`--scheduler is slurm or local, got '${scheduler}'`);
    const p = await protocolOf(flags, action === 'status' || action === 'cancel');
    if (action === 'status') {
      console.log(p.summary());
      const html = flags.html as string | undefined;
      if (html) {
        const r = await toHTML(p.figure(), html);
        console.log(`graph: ${r.file} (${(r.bytes / 1e6).toFixed(1)} MB)`);
      }
      return p.status().some((s) => s.state === 'failed') ? 1 : 0;
    }
    if (action === 'cancel') {
      const ids = p.cancel();
      console.log(ids.length ? `cancelled ${ids.join(' ')}` : 'no job of this protocol in the queue');
      return 0;
    }
    if (action === 'run' || scheduler === 'local') {
      const jobs = int(flags.jobs, '--jobs', 1);
      console.log(`protocol ${p.store.specFile}: ${p.graph.steps.length} steps, ${jobs} at a time`);
      const r = await p.run({ jobs });
      console.log(`\n${formatStatus(r.status)}`);
      return r.ok ? 0 : 1;
    }
    const r = p.submit({ ...slurmOptions(flags), dryRun: Boolean(flags['dry-run']) });
    if (r.dryRun) for (const j of r.jobs) console.log(`# ---- ${path.relative(process.cwd(), j.scriptFile)}${j.dependency ? `  (sbatch --dependency=${j.dependency})` : ''}\n${j.script}`);
    console.log(formatSubmit(r));
    if (!r.dryRun) console.log(`\nfollow it with: nnunet-ts protocol status --spec ${p.store.specFile}`);
    return 0;
  },
};
