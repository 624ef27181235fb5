/**
 * Progress in tslab notebooks: one live display per cell, updated in place through tslab's display-update
 * message (`tslab.newDisplay()`), instead of the terminal bar's lines on stderr (which Jupyter shows as a flood of
 * red stream output). One row per progress group (the epochs of a training run share a row), each row a bar with
 * count, elapsed time and ETA; when a step finishes its row becomes its summary line.
 *
 * Registered as the environment sink of sdk/util/progress.ts when this module loads (sdk/viz is part of the
 * public API, so `import { ... } from 'nnunet-ts'` installs it); it only acts while a tslab kernel is executing a
 * cell and leaves every other process to the terminal bar.
 */
import { ProgressState, formatSeconds, setEnvironmentProgressSink } from '../util/progress';

/** What the progress display needs of a tslab display (tests pass a recorder). */
export interface UpdatableDisplay {
  html(s: string): void;
}

export interface NotebookProgressOptions {
  /** a fresh display for a new cell (default: tslab.newDisplay()) */
  newDisplay: () => UpdatableDisplay;
  /** identifies the executing cell; a change starts a new display (default: tslab's per-execution writer) */
  cell: () => unknown;
  /** minimum milliseconds between two updates of an unfinished bar (default 250) */
  minIntervalMs?: number;
  now?: () => number;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
}

/** The HTML of the rows (exported for tests and for anyone who wants the same look elsewhere). */
export function progressRowsHTML(rows: readonly ProgressState[]): string {
  const lines = rows.map((s) => {
    const frac = s.total > 0 ? Math.min(1, s.done / s.total) : 0;
    const eta = s.done > 0 && !s.finished ? ` · eta ${formatSeconds((s.elapsedS / s.done) * (s.total - s.done))}` : '';
    const text = `${s.done}/${s.total} · ${formatSeconds(s.elapsedS)}${eta}${s.info ? ' · ' + s.info : ''}`;
    const mark = s.finished ? '✓' : '▸';
    return (
      `<div style="display:flex;gap:8px;align-items:center;font:12px monospace;white-space:nowrap">` +
      `<span style="width:1em">${mark}</span><span style="min-width:18em">${escapeHtml(s.label)}</span>` +
      `<progress max="1" value="${frac.toFixed(4)}" style="width:160px"></progress>` +
      `<span>${escapeHtml(text)}</span></div>`
    );
  });
  return `<div class="nnunet-progress">${lines.join('')}</div>`;
}

/** A progress sink that keeps one display per cell and rewrites it in place. */
export function notebookProgressSink(opts: NotebookProgressOptions): (s: ProgressState) => void {
  const minInterval = opts.minIntervalMs ?? 250;
  const now = opts.now ?? Date.now;
  let cell: unknown = undefined;
  let display: UpdatableDisplay | null = null;
  let rows = new Map<string, ProgressState>();
  let last = 0;
  return (s: ProgressState) => {
    const c = opts.cell();
    if (display === null || c !== cell) {
      cell = c;
      display = opts.newDisplay();
      rows = new Map();
      last = 0;
    }
    const isNew = rows.get(s.group)?.label !== s.label;
    rows.set(s.group, s);
    const t = now();
    // always draw a bar's first and last state; in between at most one update per minInterval
    if (!s.finished && !isNew && t - last < minInterval) return;
    last = t;
    display.html(progressRowsHTML([...rows.values()]));
  };
}

interface TslabModules {
  newDisplay: () => UpdatableDisplay;
  jupyter: { lastWriteDisplayData: unknown };
}

/** tslab's modules when this process is a tslab kernel (its jupyter module is loaded by the kernel itself). */
function tslabKernel(): TslabModules | null {
  const loaded = Object.keys(require.cache).some((k) => /[\\/]tslab[\\/]dist[\\/]jupyter\.js$/.test(k));
  if (!loaded) return null;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const pub = require('tslab') as { newDisplay: () => UpdatableDisplay };
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const jupyter = require('tslab/dist/jupyter') as { lastWriteDisplayData: unknown };
    return { newDisplay: pub.newDisplay, jupyter };
  } catch {
    return null;
  }
}

let kernelSink: ((s: ProgressState) => void) | null | undefined;

setEnvironmentProgressSink((s) => {
  if (kernelSink === undefined) {
    const k = tslabKernel();
    kernelSink = k ? notebookProgressSink({ newDisplay: k.newDisplay, cell: () => k.jupyter.lastWriteDisplayData }) : null;
  }
  if (!kernelSink) return false;
  try {
    kernelSink(s);
    return true;
  } catch {
    return false; // e.g. tslab "Not ready" between cells: the terminal sink takes it
  }
});
