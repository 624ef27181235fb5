/**
 * A grid of small grey images in one figure (rows x columns of heatmaps with their own axes), each with a caption,
 * and a note per row beside it: the augmentation gallery of notebook 5 (one transform per row, a few parameter
 * values per column, the official probability beside each row).
 */
import { Figure, PlotlyLayout, PlotlyTrace, toPlain } from './figure';

export interface GridImage {
  /** rows of pixel values, row 0 at the top */
  z: ArrayLike<number>[];
  /** caption above the image */
  caption?: string;
}

export interface ImageGridRow {
  /** row title (left of the row) */
  label: string;
  /** note right of the row (e.g. the probability with which training applies it) */
  note?: string;
  /** images of the row; rows may have different lengths, missing cells stay empty */
  images: (GridImage | null)[];
}

export interface ImageGridOptions {
  title?: string;
  /** grey window shared by every image (default: min and max over all images, so intensity changes are visible) */
  window?: [number, number];
  /** CSS pixels per image (default 150) */
  cellSize?: number;
  /** CSS pixels for the row labels on the left (default 150) and the notes on the right (default 190) */
  labelWidth?: number;
  noteWidth?: number;
}

/** One figure of rows x columns images with shared grey scale, captions, row labels and row notes. */
export function imageGrid(rows: ImageGridRow[], opts: ImageGridOptions = {}): Figure {
  if (rows.length === 0) throw new Error('imageGrid: no rows');
  const nCols = Math.max(...rows.map((r) => r.images.length));
  if (nCols === 0) throw new Error('imageGrid: no images');
  let [lo, hi] = opts.window ?? [Infinity, -Infinity];
  if (!opts.window) {
    for (const r of rows)
      for (const im of r.images)
        if (im)
          for (const row of im.z)
            for (let i = 0; i < row.length; i++) {
              const v = row[i];
              if (Number.isFinite(v)) {
                if (v < lo) lo = v;
                if (v > hi) hi = v;
              }
            }
    if (!(hi > lo)) [lo, hi] = Number.isFinite(lo) ? [lo, lo + 1] : [0, 1];
  }
  const cell = opts.cellSize ?? 150;
  const labelW = opts.labelWidth ?? 150;
  const noteW = opts.noteWidth ?? 190;
  const capH = 18;
  const width = labelW + nCols * cell + noteW;
  const titleH = opts.title ? 50 : 10;
  const height = titleH + rows.length * (cell + capH) + 10;
  // paper fractions of the plotting area (margins are 0; titles live in the top strip)
  const px = (v: number) => v / width;
  const py = (v: number) => 1 - v / height; // from the top
  const data: PlotlyTrace[] = [];
  const layout: PlotlyLayout = {};
  const annotations: Record<string, unknown>[] = [];
  let k = 0;
  rows.forEach((r, ri) => {
    const top = titleH + ri * (cell + capH);
    annotations.push({ text: r.label, x: px(labelW - 8), y: py(top + capH + cell / 2), xref: 'paper', yref: 'paper', xanchor: 'right', yanchor: 'middle', showarrow: false, font: { size: 11 }, align: 'right' });
    if (r.note) {
      annotations.push({ text: r.note, x: px(labelW + nCols * cell + 8), y: py(top + capH + cell / 2), xref: 'paper', yref: 'paper', xanchor: 'left', yanchor: 'middle', showarrow: false, font: { size: 10, color: '#555555' }, align: 'left' });
    }
    r.images.forEach((im, ci) => {
      if (!im) return;
      k++;
      const suffix = k === 1 ? '' : String(k);
      const xa = `x${suffix}`;
      const ya = `y${suffix}`;
      const left = labelW + ci * cell;
      data.push({
        type: 'heatmap',
        z: im.z.map((row) => toPlain(row)),
        xaxis: xa,
        yaxis: ya,
        zmin: lo,
        zmax: hi,
        colorscale: [
          [0, '#000000'],
          [1, '#ffffff'],
        ],
        showscale: false,
        hoverinfo: 'skip',
      });
      const domX = [px(left + 3), px(left + cell - 3)];
      const domY = [py(top + capH + cell - 3), py(top + capH + 3)];
      layout[`xaxis${suffix}`] = { domain: domX, visible: false, constrain: 'domain' };
      layout[`yaxis${suffix}`] = { domain: domY, visible: false, autorange: 'reversed', scaleanchor: xa, scaleratio: 1, constrain: 'domain' };
      if (im.caption) {
        annotations.push({ text: im.caption, x: px(left + cell / 2), y: py(top + capH - 2), xref: 'paper', yref: 'paper', xanchor: 'center', yanchor: 'bottom', showarrow: false, font: { size: 10 } });
      }
    });
  });
  return {
    data,
    layout: {
      ...layout,
      ...(opts.title ? { title: { text: opts.title, y: 1 - 10 / height, yanchor: 'top' } } : {}),
      width,
      height,
      margin: { l: 0, r: 0, t: 0, b: 0 },
      annotations,
      showlegend: false,
    },
  };
}
