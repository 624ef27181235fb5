/**
 * A real one-node Slurm cluster for the tests (../shared/docs/gpu-and-scale.md, "Scale-out: Slurm"): munged,
 * slurmctld and slurmd of Debian's slurm-wlm on 127.0.0.1, run as root without systemd, all state in a temp
 * folder. `SLURM_CONF` points the client commands (sbatch, squeue, scancel) at it.
 */
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface SlurmCluster {
  dir: string;
  conf: string;
  /** environment for the client commands and the jobs */
  env: NodeJS.ProcessEnv;
  stop(): void;
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Why a cluster cannot start here (missing packages, not root), or null. */
export function slurmUnavailable(): string | null {
  const missing = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scancel'].filter((c) => !which(c));
  if (missing.length) return `missing ${missing.join(', ')}: apt-get install -y slurm-wlm munge`;
  if (process.getuid?.() !== 0) return 'the test cluster runs its daemons as root';
  return null;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): void {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
}

export async function startSlurmCluster(o: { cpus?: number; port?: number } = {}): Promise<SlurmCluster> {
  const why = slurmUnavailable();
  if (why) throw new Error(why);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-slurm-'));
  for (const d of ['munge', 'run', 'state', 'spool', 'log']) fs.mkdirSync(path.join(dir, d));
  fs.chmodSync(path.join(dir, 'munge'), 0o700);
  fs.chmodSync(path.join(dir, 'run'), 0o755); // the socket must not sit in a 0700 folder
  fs.chmodSync(dir, 0o755);
  const key = path.join(dir, 'munge', 'munge.key');
  fs.writeFileSync(key, crypto.randomBytes(128));
  fs.chmodSync(key, 0o400);
  const port = o.port ?? 16817;
  const cpus = o.cpus ?? os.cpus().length;
  const conf = path.join(dir, 'slurm.conf');
  fs.writeFileSync(
    conf,
    [
      'ClusterName=nnunet',
      'SlurmctldHost=localhost(127.0.0.1)',
      'SlurmUser=root',
      'SlurmdUser=root',
      'AuthType=auth/munge',
      'CredType=cred/munge',
      `AuthInfo=socket=${dir}/run/munge.socket.2`,
      `SlurmctldPort=${port}`,
      `SlurmdPort=${port + 1}`,
      `StateSaveLocation=${dir}/state`,
      `SlurmdSpoolDir=${dir}/spool`,
      `SlurmctldPidFile=${dir}/slurmctld.pid`,
      `SlurmdPidFile=${dir}/slurmd.pid`,
      `SlurmctldLogFile=${dir}/log/slurmctld.log`,
      `SlurmdLogFile=${dir}/log/slurmd.log`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SwitchType=switch/none',
      'MpiDefault=none',
      'SchedulerType=sched/backfill',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_Core',
      'ReturnToService=2',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      'JobCompType=jobcomp/none',
      // a job the test scancels gets its TERM, then KILL after this many seconds
      'KillWait=10',
      `NodeName=localhost NodeAddr=127.0.0.1 CPUs=${cpus} State=UNKNOWN`,
      'PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP',
      '',
    ].join('\n'),
  );
  const env = { ...process.env, SLURM_CONF: conf };
  run('munged', [`--key-file=${key}`, `--socket=${dir}/run/munge.socket.2`, `--pid-file=${dir}/run/munged.pid`, `--log-file=${dir}/log/munged.log`, `--seed-file=${dir}/munge/munged.seed`], env);
  run('slurmctld', ['-f', conf], env);
  run('slurmd', ['-f', conf, '-N', 'localhost'], env);
  const stop = () => {
    // jobs first: a slurmd with running jobs outlives SIGTERM (its step daemons keep retrying the dead controller)
    spawnSync('scancel', ['--user=root'], { env });
    const t = Date.now();
    while (Date.now() - t < 15000) {
      const q = spawnSync('squeue', ['-h'], { env, encoding: 'utf8' });
      if (q.status !== 0 || !q.stdout.trim()) break;
      spawnSync('sleep', ['0.5']);
    }
    const pids = ['slurmd.pid', 'slurmctld.pid', 'run/munged.pid'].flatMap((f) => {
      try {
        return [Number(fs.readFileSync(path.join(dir, f), 'utf8').trim())];
      } catch {
        return [];
      }
    });
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGTERM');
    const t2 = Date.now();
    while (pids.some(alive) && Date.now() - t2 < 5000) spawnSync('sleep', ['0.2']);
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  };
  const t0 = Date.now();
  for (;;) {
    const r = spawnSync('sinfo', ['-h', '-o', '%t'], { env, encoding: 'utf8' });
    if (r.status === 0 && /^idle/m.test(r.stdout)) break;
    if (Date.now() - t0 > 30000) {
      stop();
      const log = (f: string) => (fs.existsSync(path.join(dir, 'log', f)) ? fs.readFileSync(path.join(dir, 'log', f), 'utf8').slice(-2000) : '');
      throw new Error(`the Slurm node did not come up in 30 s (sinfo: ${r.stdout}${r.stderr})\n${log('slurmctld.log')}\n${log('slurmd.log')}`);
    }
    await new Promise((res) => setTimeout(res, 300));
  }
  return { dir, conf, env, stop };
}
