/**
 * The protocol's files, beside the results they describe (`<nnUNet_results>/<task>/protocol/`):
 *
 *   protocol.json          the spec every step reads (spec.ts)
 *   locks/<step>.lock      held while a step runs: one process, on one machine or job, per step
 *   steps/<step>.json      the last run of a step: running / done / skipped / failed / interrupted, host, pid, job, log
 *   logs/                  each step run's output (local runs; Slurm writes its own files here too)
 *   slurm/                 the sbatch scripts and the job ids of each submission
 *
 * Every file is written atomically. Locks are created with O_EXCL, so two processes never both start a step; a lock
 * whose owner is gone (its pid is dead on this host, or its Slurm job left the queue) is stale and taken over.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readJsonSync, writeJsonAtomicSync } from '../io/atomic';
import { protocolFolder } from '../paths';
import { validateSpec, type ProtocolSpec } from './spec';

/** Exit status of `protocol step` for an interrupted step (checkpoint saved): the Slurm job script requeues on it. */
export const EXIT_INTERRUPTED = 99;

export type RecordState = 'running' | 'done' | 'skipped' | 'failed' | 'interrupted';

export interface StepRecord {
  step: string;
  state: RecordState;
  host: string;
  pid: number;
  /** Slurm job id (`<array job>_<task>` for an array task) when run by Slurm */
  jobId?: string;
  /** the file the step's output went to */
  log?: string;
  started: string;
  ended?: string;
  /** failed: the error; skipped: why; done: a one-line result */
  detail?: string;
}

export interface LockOwner {
  host: string;
  pid: number;
  jobId?: string;
  started: string;
}

export class StepLockedError extends Error {
  constructor(
    readonly step: string,
    readonly owner: LockOwner,
    lockFile: string,
  ) {
    super(
      `step ${step} is already running (pid ${owner.pid} on ${owner.host}${owner.jobId ? `, Slurm job ${owner.jobId}` : ''}, since ${owner.started}); ` +
        `lock ${lockFile}. If that process is really gone, delete the lock.`,
    );
  }
}

/** Is a process alive on this host? (EPERM: alive, owned by someone else.) */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether a Slurm job is still queued or running: true / false, or null when the scheduler cannot be asked. */
export type JobAliveFn = (jobId: string) => boolean | null;

export class ProtocolStore {
  constructor(readonly dir: string) {}

  static of(spec: Pick<ProtocolSpec, 'task' | 'roots'>): ProtocolStore {
    return new ProtocolStore(protocolFolder(spec.roots.results, path.basename(path.resolve(spec.task))));
  }

  get specFile(): string {
    return path.join(this.dir, 'protocol.json');
  }
  get logDir(): string {
    return path.join(this.dir, 'logs');
  }
  get slurmDir(): string {
    return path.join(this.dir, 'slurm');
  }
  lockFile(step: string): string {
    return path.join(this.dir, 'locks', `${step}.lock`);
  }
  recordFile(step: string): string {
    return path.join(this.dir, 'steps', `${step}.json`);
  }

  writeSpec(spec: ProtocolSpec): void {
    writeJsonAtomicSync(this.specFile, spec);
  }

  /** The spec of `protocol.json` (validated: a hand-edited file gets an error naming it). */
  static readSpec(file: string): ProtocolSpec {
    if (!fs.existsSync(file)) throw new Error(`${file}: no such protocol file (write it with 'nnunet-ts protocol run|submit')`);
    return validateSpec(readJsonSync<ProtocolSpec>(file), file);
  }

  readRecord(step: string): StepRecord | null {
    const f = this.recordFile(step);
    if (!fs.existsSync(f)) return null;
    try {
      return readJsonSync<StepRecord>(f);
    } catch {
      return null; // a record is advisory; the outputs decide completeness
    }
  }

  writeRecord(r: StepRecord): void {
    writeJsonAtomicSync(this.recordFile(r.step), r);
  }

  readLock(step: string): LockOwner | null {
    const f = this.lockFile(step);
    try {
      return JSON.parse(fs.readFileSync(f, 'utf8')) as LockOwner;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      // a lock being written this instant, or torn by a crash between create and write: treat as held, with no pid
      return { host: '?', pid: -1, started: '?' };
    }
  }

  /**
   * Is this lock's owner gone? On this host its pid decides (a cancelled job's process may still be writing its
   * checkpoint); elsewhere the scheduler's queue; with neither, it is assumed alive.
   */
  isStale(owner: LockOwner, jobAlive?: JobAliveFn): boolean {
    if (owner.host === os.hostname() && owner.pid > 0) return !pidAlive(owner.pid);
    if (owner.jobId && jobAlive) {
      const alive = jobAlive(owner.jobId);
      if (alive !== null) return !alive;
    }
    return false;
  }

  /**
   * Take the step's lock (O_EXCL create). A stale lock is moved aside (renamed, so of two processes taking it over
   * only one succeeds) and the creation retried once. Throws StepLockedError while another live owner holds it.
   */
  acquire(step: string, owner: LockOwner, jobAlive?: JobAliveFn): () => void {
    const f = this.lockFile(step);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = fs.openSync(f, 'wx');
        try {
          fs.writeSync(fd, JSON.stringify(owner));
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        return () => {
          // release only our own lock (a takeover after a wrong stale verdict must not be undone by us)
          const cur = this.readLock(step);
          if (cur && cur.pid === owner.pid && cur.host === owner.host && cur.started === owner.started) fs.rmSync(f, { force: true });
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const held = this.readLock(step);
        if (!held) continue;
        if (!this.isStale(held, jobAlive)) throw new StepLockedError(step, held, f);
        try {
          fs.renameSync(f, `${f}.stale-${process.pid}-${Date.now()}`);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
    }
    const held = this.readLock(step);
    throw new StepLockedError(step, held ?? { host: '?', pid: -1, started: '?' }, f);
  }
}
