/**
 * The `local` executor: runs the graph on this machine, `jobs` steps at a time, each step a child process running
 * `nnunet-ts protocol step` (the command a Slurm job runs), so a step's memory and backend are its own and a crash
 * takes only that step down. Complete steps are skipped; an interrupted training resumes from its checkpoint; a
 * failed step stops its dependents (the others go on) and is reported with its log.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { buildProtocolGraph, dependentsOf } from './graph';
import type { ProtocolSpec } from './spec';
import { EXIT_INTERRUPTED, ProtocolStore } from './store';
import { protocolStatus, type CaseIdsFn, type StepStatus } from './status';

/** The argv that runs this installation's CLI: the TypeScript sources through ts-node, or the compiled dist/. */
export function cliInvocation(): string[] {
  if (__filename.endsWith('.ts')) return [process.execPath, '-r', require.resolve('ts-node/register/transpile-only'), path.resolve(__dirname, '..', 'cli', 'main.ts')];
  return [process.execPath, path.resolve(__dirname, '..', 'cli', 'main.js')];
}

export interface LocalRunOptions {
  /** steps at a time (default 1; each training uses its own gradient workers too) */
  jobs?: number;
  print?: (line: string) => void;
  /** environment of the step processes (default this process's) */
  env?: NodeJS.ProcessEnv;
}

export interface LocalRunResult {
  /** steps this run executed, with how they ended */
  ran: { step: string; outcome: 'done' | 'failed' | 'interrupted'; seconds: number; log: string }[];
  /** every step's state after the run */
  status: StepStatus[];
  ok: boolean;
}

function stamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-');
}

export async function runLocal(spec: ProtocolSpec, caseIds: CaseIdsFn, o: LocalRunOptions = {}): Promise<LocalRunResult> {
  const jobs = o.jobs ?? 1;
  if (!(Number.isInteger(jobs) && jobs >= 1)) throw new Error(`jobs must be a positive integer, got ${jobs}`);
  const print = o.print ?? ((l: string) => console.log(l));
  const store = ProtocolStore.of(spec);
  store.writeSpec(spec);
  fs.mkdirSync(store.logDir, { recursive: true });
  const g = buildProtocolGraph(spec);
  const ran: LocalRunResult['ran'] = [];
  const failed = new Set<string>();
  const blocked = new Set<string>();
  const active = new Map<string, Promise<void>>();
  const finished = new Set<string>();

  const launch = (step: string): Promise<void> => {
    const log = path.join(store.logDir, `${step}.local-${stamp()}.log`);
    const fd = fs.openSync(log, 'a');
    const [cmd, ...args] = cliInvocation();
    const t0 = Date.now();
    print(`start  ${step}  (log ${log})`);
    const child = spawn(cmd, [...args, 'protocol', 'step', '--spec', store.specFile, '--step', step, '--log', log], {
      stdio: ['ignore', fd, fd],
      env: { NNUNET_PROGRESS: '0', ...(o.env ?? process.env) },
    });
    return new Promise<void>((resolve) => {
      const done = (code: number | null) => {
        fs.closeSync(fd);
        const outcome = code === 0 ? 'done' : code === EXIT_INTERRUPTED ? 'interrupted' : 'failed';
        const seconds = (Date.now() - t0) / 1000;
        ran.push({ step, outcome, seconds, log });
        print(`${outcome.padEnd(6)} ${step}  ${seconds.toFixed(1)} s${outcome === 'done' ? '' : `  (log ${log})`}`);
        if (outcome !== 'done') {
          failed.add(step);
          for (const d of dependentsOf(g, step)) blocked.add(d);
        }
        finished.add(step);
        resolve();
      };
      child.on('error', () => done(null));
      child.on('exit', (code) => done(code));
    });
  };

  for (;;) {
    const status = protocolStatus(spec, store, caseIds);
    const state = new Map(status.map((s) => [s.step, s.state]));
    const complete = (id: string) => state.get(id) === 'done' || state.get(id) === 'skipped';
    const ready = g.steps.filter(
      (s) => !complete(s.id) && !active.has(s.id) && !finished.has(s.id) && !blocked.has(s.id) && state.get(s.id) !== 'running' && s.deps.every(complete),
    );
    for (const s of ready) {
      if (active.size >= jobs) break;
      const p = launch(s.id).then(() => void active.delete(s.id));
      active.set(s.id, p);
    }
    if (active.size) {
      await Promise.race(active.values());
      continue;
    }
    // nothing of ours runs: wait for steps another process runs (their lock is live), else we are done
    const elsewhere = g.steps.filter((s) => state.get(s.id) === 'running' && !blocked.has(s.id));
    if (elsewhere.length && g.steps.some((s) => !complete(s.id) && !finished.has(s.id) && !blocked.has(s.id) && state.get(s.id) !== 'running')) {
      print(`waiting for ${elsewhere.map((s) => s.id).join(', ')} (run by another process)`);
      await new Promise((r) => setTimeout(r, 5000));
      continue;
    }
    const final = protocolStatus(spec, store, caseIds);
    return { ran, status: final, ok: failed.size === 0 && final.every((s) => s.state === 'done' || s.state === 'skipped') };
  }
}
