/**
 * HTML tables for notebooks from arquero tables (or arrays of plain row objects). Typed structurally, so arquero
 * (ESM) is never imported here.
 */

/** What tableHTML needs of an arquero ColumnTable. */
export interface ArqueroTableLike {
  columnNames(): string[];
  numRows(): number;
  get(name: string, row?: number): unknown;
}

export interface TableHTMLOptions {
  /** most rows shown (default 50); the rest are counted in a footer */
  limit?: number;
  /** significant digits of non-integer numbers (default 4) */
  digits?: number;
  caption?: string;
}

export function escapeHTML(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function isTableLike(t: unknown): t is ArqueroTableLike {
  const o = t as ArqueroTableLike;
  return !!o && typeof o.columnNames === 'function' && typeof o.numRows === 'function' && typeof o.get === 'function';
}

export function formatCell(v: unknown, digits: number): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN';
    if (Number.isInteger(v) || !Number.isFinite(v)) return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(digits - 1) : String(Number(v.toPrecision(digits)));
  }
  if (Array.isArray(v) || ArrayBuffer.isView(v)) {
    return '[' + Array.from(v as ArrayLike<unknown>, (x) => formatCell(x, digits)).join(', ') + ']';
  }
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** An HTML <table> (numbers right-aligned, 4 significant digits) of an arquero table or an array of row objects. */
export function tableHTML(table: ArqueroTableLike | readonly object[], opts: TableHTMLOptions = {}): string {
  const limit = opts.limit ?? 50;
  const digits = opts.digits ?? 4;
  let columns: string[];
  let nRows: number;
  let cell: (col: string, row: number) => unknown;
  if (isTableLike(table)) {
    columns = table.columnNames();
    nRows = table.numRows();
    cell = (c, r) => table.get(c, r);
  } else if (Array.isArray(table)) {
    const seen = new Set<string>();
    for (const row of table) for (const k of Object.keys(row ?? {})) seen.add(k);
    columns = [...seen];
    nRows = table.length;
    cell = (c, r) => table[r]?.[c];
  } else {
    throw new Error('tableHTML: expected an arquero table (columnNames/numRows/get) or an array of row objects');
  }
  const shown = Math.min(nRows, limit);
  const th = columns.map((c) => `<th style="text-align:left;padding:2px 8px;border-bottom:1px solid #999">${escapeHTML(c)}</th>`).join('');
  const rows: string[] = [];
  for (let r = 0; r < shown; r++) {
    const tds = columns.map((c) => {
      const v = cell(c, r);
      const align = typeof v === 'number' ? 'right' : 'left';
      return `<td style="text-align:${align};padding:2px 8px">${escapeHTML(formatCell(v, digits))}</td>`;
    });
    rows.push(`<tr>${tds.join('')}</tr>`);
  }
  const caption = opts.caption ? `<caption style="text-align:left;font-weight:bold">${escapeHTML(opts.caption)}</caption>` : '';
  const more = nRows > shown ? `<div style="color:#666;font-size:90%">${shown} of ${nRows} rows shown</div>` : '';
  return (
    `<table class="nnunet-ts-table" style="border-collapse:collapse;font-family:monospace;font-size:12px">` +
    `${caption}<thead><tr>${th}</tr></thead><tbody>${rows.join('')}</tbody></table>${more}`
  );
}
