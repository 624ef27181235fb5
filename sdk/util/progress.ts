/**
 * One progress interface for every long step (fingerprint, preprocessing, training, prediction, downloads).
 * The default sink draws one terminal bar on a TTY and prints sparse lines otherwise (CI logs); inside a tslab
 * notebook kernel it hands over to the live display that sdk/viz/progress_display.ts registers (one display per
 * cell, updated in place, nothing on stderr). `setProgressSink` replaces both. NNUNET_PROGRESS=0 silences it (tests).
 */
export interface ProgressState {
  label: string;
  /** bars of one group replace each other in a live display (e.g. the epochs of one training run); default: label */
  group: string;
  done: number;
  total: number;
  info?: string;
  elapsedS: number;
  finished: boolean;
}

export type ProgressSink = (s: ProgressState) => void;

export interface Progress {
  tick(n?: number, info?: string): void;
  /** Set the absolute count (e.g. bytes downloaded). */
  update(done: number, info?: string): void;
  done(info?: string): void;
}

/** 42s, 3m05s, 1h02m */
export function formatSeconds(s: number): string {
  if (!isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function formatProgress(s: ProgressState, width = 24): string {
  const frac = s.total > 0 ? Math.min(1, s.done / s.total) : 0;
  const filled = Math.round(frac * width);
  const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
  const eta = s.done > 0 && !s.finished ? ` eta ${formatSeconds((s.elapsedS / s.done) * (s.total - s.done))}` : '';
  return `${s.label} ${bar} ${s.done}/${s.total} ${formatSeconds(s.elapsedS)}${eta}${s.info ? ' ' + s.info : ''}`;
}

const terminalSink: ProgressSink = (() => {
  const lastPrinted = new Map<string, number>();
  return (s: ProgressState) => {
    if (process.env.NNUNET_PROGRESS === '0') return;
    if (process.stderr.isTTY) {
      process.stderr.write(`\r${formatProgress(s)}\x1b[K${s.finished ? '\n' : ''}`);
      return;
    }
    // Non-TTY (CI, piped): a line at start, every 25 %, and at the end.
    const quarter = s.total > 0 ? Math.floor((4 * s.done) / s.total) : 0;
    const key = s.label;
    if (s.finished || lastPrinted.get(key) !== quarter) {
      lastPrinted.set(key, quarter);
      process.stderr.write(formatProgress(s) + '\n');
      if (s.finished) lastPrinted.delete(key);
    }
  };
})();

/** Returns true when it handled the state (e.g. it runs inside a notebook kernel), false to leave it to the terminal. */
export type EnvironmentProgressSink = (s: ProgressState) => boolean;
let environmentSink: EnvironmentProgressSink | null = null;

/** Registered by sdk/viz/progress_display.ts: the notebook display, used whenever a tslab kernel is running. */
export function setEnvironmentProgressSink(s: EnvironmentProgressSink | null): void {
  environmentSink = s;
}

const defaultSink: ProgressSink = (s) => {
  if (process.env.NNUNET_PROGRESS === '0') return;
  if (environmentSink?.(s)) return;
  terminalSink(s);
};

let sink: ProgressSink = defaultSink;

export function setProgressSink(s: ProgressSink | null): void {
  sink = s ?? defaultSink;
}

export interface ProgressOptions {
  /** live displays show one row per group: a new bar replaces the finished one of its group */
  group?: string;
}

export function progress(label: string, total: number, opts: ProgressOptions = {}): Progress {
  const group = opts.group ?? label;
  const t0 = Date.now();
  let done = 0;
  let lastEmit = 0;
  const emit = (finished: boolean, info?: string) => {
    const now = Date.now();
    // at most ~10 updates per second
    if (!finished && now - lastEmit < 100 && done < total) return;
    lastEmit = now;
    sink({ label, group, done, total, info, elapsedS: (now - t0) / 1000, finished });
  };
  return {
    tick(n = 1, info?: string) {
      done += n;
      emit(false, info);
    },
    update(d: number, info?: string) {
      done = d;
      emit(false, info);
    },
    done(info?: string) {
      emit(true, info);
    },
  };
}
