/**
 * A small streaming tar reader and safe extractor (ustar, pax and GNU long names; optional gzip), for the MSD
 * archives (several GB each, so nothing is held in memory beyond one chunk).
 *
 * Safety rules (an archive is untrusted input):
 *  - entry names are made relative and checked: absolute paths (`/x`, `C:\x`, `\\host`), `..` segments, NUL bytes and
 *    empty names are refused with an error naming the entry; the resolved target must stay inside the destination;
 *  - symlinks and hard links are created only when their target resolves inside the destination; a link pointing
 *    out is refused; files are never written through a symlinked parent that leaves the destination;
 *  - devices, FIFOs and unknown entry types are refused;
 *  - macOS AppleDouble files (`._*`) and `PaxHeaders*` / `PaxHeader` folders (pax headers extracted by tools that
 *    don't know pax) are skipped;
 *  - extraction goes to a staging folder inside the destination that is moved into place only when the whole
 *    archive extracted cleanly; on any error it is removed, so a refused archive leaves no tree behind.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';

const BLOCK = 512;

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink';

export interface TarEntry {
  /** normalized relative path (forward slashes) */
  name: string;
  type: TarEntryType;
  size: number;
  mode: number;
  /** link target for symlinks / hard links */
  linkname?: string;
}

export interface ExtractOptions {
  /** 'auto' (default) detects gzip by its magic bytes */
  gzip?: boolean | 'auto';
  /** called for every entry that is extracted (after the safety checks) */
  onEntry?: (e: TarEntry) => void;
  /** progress callback with compressed bytes read so far */
  onBytes?: (bytesRead: number) => void;
}

export interface ExtractResult {
  entries: TarEntry[];
  skipped: string[];
}

class TarError extends Error {}

function cString(buf: Buffer, off: number, len: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end === -1 || end > off + len ? off + len : end);
}

/** Numeric header field: octal text, or GNU base-256 (high bit of the first byte set) for large values. */
function parseNumeric(buf: Buffer, off: number, len: number, what: string, at: number): number {
  if (buf[off] & 0x80) {
    if (buf[off] === 0xff) throw new TarError(`negative ${what} in tar header at byte ${at}`);
    let v = buf[off] & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + buf[off + i];
    if (!Number.isSafeInteger(v)) throw new TarError(`${what} too large in tar header at byte ${at}`);
    return v;
  }
  const s = buf.toString('latin1', off, off + len).replace(/\0.*$/s, '').trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarError(`invalid ${what} field '${s}' in tar header at byte ${at}`);
  return parseInt(s, 8);
}

function headerChecksumOk(h: Buffer): boolean {
  const stored = parseInt(h.toString('latin1', 148, 156).replace(/\0.*$/s, '').trim(), 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b; // some old tars summed signed chars
  }
  return stored === unsigned || stored === signed;
}

/** pax extended header records: "<len> <key>=<value>\n" */
function parsePax(data: Buffer, at: number): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp === -1) break;
    const len = parseInt(data.toString('latin1', i, sp), 10);
    if (!Number.isInteger(len) || len <= 0 || i + len > data.length) throw new TarError(`malformed pax header at byte ${at}`);
    const rec = data.toString('utf8', sp + 1, i + len - 1); // drop the trailing newline
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/**
 * Normalize an archive member name to a safe relative path, or throw naming the entry. Leading './' is dropped,
 * backslashes count as separators (archives made on Windows), trailing '/' of directories is dropped.
 */
export function safeEntryName(raw: string): string {
  if (raw.includes('\0')) throw new TarError(`refusing tar entry '${raw}': NUL byte in name`);
  if (/^([/\\]|[A-Za-z]:)/.test(raw)) throw new TarError(`refusing tar entry '${raw}': absolute path`);
  const parts = raw.split(/[/\\]+/).filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw new TarError(`refusing tar entry '${raw}': '..' path segment escapes the destination`);
  if (parts.length === 0) throw new TarError(`refusing tar entry '${raw}': empty name`);
  return parts.join('/');
}

function isSkipped(name: string): boolean {
  const parts = name.split('/');
  return parts.some((p) => p.startsWith('._') || p === 'PaxHeader' || p.startsWith('PaxHeaders'));
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Async iterator over the (possibly gunzipped) bytes of a file. */
async function* readChunks(file: string, gzip: boolean, onBytes?: (n: number) => void): AsyncGenerator<Buffer> {
  const raw = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  let read = 0;
  raw.on('data', (c: string | Buffer) => {
    read += c.length;
    onBytes?.(read);
  });
  const src: NodeJS.ReadableStream = gzip ? raw.pipe(zlib.createGunzip()) : raw;
  if (gzip) raw.on('error', (e) => (src as zlib.Gunzip).destroy(e));
  for await (const chunk of src as AsyncIterable<Buffer>) yield chunk;
}

function isGzipFile(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(2);
    const n = fs.readSync(fd, b, 0, 2, 0);
    return n === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    fs.closeSync(fd);
  }
}

/** Byte-exact reader over an async chunk stream. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  constructor(private readonly it: AsyncIterator<Buffer>) {}
  /** Read exactly n bytes, or fewer at end of stream. */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else this.buf = this.buf.length ? Buffer.concat([this.buf, r.value]) : r.value;
    }
    const out = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    return out;
  }
  /** Stream n bytes to a sink in chunks (the file body), without holding them all. */
  async pipe(n: number, sink: (b: Buffer) => void): Promise<number> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0) {
        if (this.done) break;
        const r = await this.it.next();
        if (r.done) {
          this.done = true;
          break;
        }
        this.buf = r.value;
      }
      const take = Math.min(left, this.buf.length);
      sink(this.buf.subarray(0, take));
      this.buf = this.buf.subarray(take);
      left -= take;
    }
    return n - left;
  }
}

/**
 * List or extract a tar. With `destDir` the archive is extracted safely (see the module comment); without it the
 * entries are only listed (and checked).
 */
export async function extractTar(archive: string, destDir: string | null, opts: ExtractOptions = {}): Promise<ExtractResult> {
  if (!fs.existsSync(archive)) throw new Error(`extractTar: ${archive}: no such file`);
  const gzip = opts.gzip === undefined || opts.gzip === 'auto' ? isGzipFile(archive) : opts.gzip;
  const dest = destDir === null ? null : path.resolve(destDir);
  let staging: string | null = null;
  if (dest) {
    fs.mkdirSync(dest, { recursive: true });
    staging = fs.mkdtempSync(path.join(dest, '.extracting-'));
  }
  const result: ExtractResult = { entries: [], skipped: [] };
  const reader = new ByteReader(readChunks(archive, gzip, opts.onBytes)[Symbol.asyncIterator]());
  const dirModes: [string, number][] = [];
  let offset = 0;
  let pending: { path?: string; linkpath?: string; size?: number } = {};
  let globalPax: Record<string, string> = {};
  try {
    for (;;) {
      const h = await reader.read(BLOCK);
      if (h.length === 0) throw new TarError(`truncated tar: no end-of-archive marker after byte ${offset}`);
      if (h.length < BLOCK) throw new TarError(`truncated tar: partial header at byte ${offset}`);
      const at = offset;
      offset += BLOCK;
      if (h.every((b) => b === 0)) {
        break; // end-of-archive (the second zero block and padding are not needed)
      }
      if (!headerChecksumOk(h)) throw new TarError(`corrupt tar header (checksum mismatch) at byte ${at}`);
      const typeflag = String.fromCharCode(h[156] || 0x30);
      let size = parseNumeric(h, 124, 12, 'size', at);
      const magic = h.toString('latin1', 257, 263);
      const isUstar = magic.startsWith('ustar');
      const prefix = isUstar && magic === 'ustar\0' ? cString(h, 345, 155) : '';
      let name = cString(h, 0, 100);
      if (prefix) name = `${prefix}/${name}`;
      let linkname = cString(h, 157, 100);
      const mode = parseNumeric(h, 100, 8, 'mode', at);

      // meta entries: their body describes the next entry
      if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
        if (size > 1 << 24) throw new TarError(`oversized '${typeflag}' meta entry (${size} bytes) at byte ${at}`);
        const body = await reader.read(size);
        if (body.length < size) throw new TarError(`truncated tar: meta entry at byte ${at}`);
        await reader.read((BLOCK - (size % BLOCK)) % BLOCK);
        offset += Math.ceil(size / BLOCK) * BLOCK;
        if (typeflag === 'x') {
          const pax = parsePax(body, at);
          if (pax.path !== undefined) pending.path = pax.path;
          if (pax.linkpath !== undefined) pending.linkpath = pax.linkpath;
          if (pax.size !== undefined) pending.size = Number(pax.size);
        } else if (typeflag === 'g') {
          globalPax = { ...globalPax, ...parsePax(body, at) };
        } else {
          const s = body.toString('utf8').replace(/\0+$/, '');
          if (typeflag === 'L') pending.path = s;
          else pending.linkpath = s;
        }
        continue;
      }
      if (pending.path !== undefined) name = pending.path;
      else if (globalPax.path !== undefined) name = globalPax.path;
      if (pending.linkpath !== undefined) linkname = pending.linkpath;
      if (pending.size !== undefined) {
        if (!Number.isSafeInteger(pending.size) || pending.size < 0) throw new TarError(`invalid pax size for '${name}' at byte ${at}`);
        size = pending.size;
      }
      pending = {};

      let type: TarEntryType;
      if (typeflag === '0' || typeflag === '7') type = 'file';
      else if (typeflag === '5') type = 'directory';
      else if (typeflag === '2') type = 'symlink';
      else if (typeflag === '1') type = 'hardlink';
      else throw new TarError(`refusing tar entry '${name}': unsupported entry type '${typeflag}' (devices, FIFOs, sparse files are not extracted)`);
      if (type !== 'file') size = type === 'directory' ? 0 : size; // links carry no body (size should be 0)
      const dataBlocks = Math.ceil(size / BLOCK) * BLOCK;

      const safeName = safeEntryName(name);
      const skip = isSkipped(safeName);
      const entry: TarEntry = { name: safeName, type, size, mode: mode & 0o777 };
      if (type === 'symlink' || type === 'hardlink') entry.linkname = linkname;

      if (skip || !staging) {
        if (skip) result.skipped.push(safeName);
        if (!skip && type === 'symlink') checkSymlinkTarget(path.resolve('/tar-root'), safeName, linkname);
        if (!skip && type === 'hardlink') hardlinkSource(path.resolve('/tar-root'), safeName, linkname);
        const got = await reader.pipe(dataBlocks, () => undefined);
        if (got < dataBlocks) throw new TarError(`truncated tar: data of '${safeName}' at byte ${at} is cut short`);
        offset += dataBlocks;
        if (!skip) result.entries.push(entry);
        continue;
      }

      const target = path.join(staging, ...safeName.split('/'));
      if (!inside(staging, target)) throw new TarError(`refusing tar entry '${name}': resolves outside the destination`);
      const parent = path.dirname(target);
      fs.mkdirSync(parent, { recursive: true });
      // a symlinked parent (an earlier link entry) must not lead outside
      if (!inside(fs.realpathSync(staging), fs.realpathSync(parent))) {
        throw new TarError(`refusing tar entry '${name}': its parent folder is a link that leaves the destination`);
      }
      if (type === 'directory') {
        fs.mkdirSync(target, { recursive: true });
        dirModes.push([target, entry.mode]);
      } else if (type === 'file') {
        if (fs.existsSync(target) && fs.lstatSync(target).isSymbolicLink()) fs.unlinkSync(target); // never write through a link
        const fd = fs.openSync(target, 'w', 0o644);
        let got: number;
        try {
          got = await reader.pipe(size, (b) => {
            fs.writeSync(fd, b);
          });
        } finally {
          fs.closeSync(fd);
        }
        if (got < size) throw new TarError(`truncated tar: data of '${safeName}' at byte ${at} is cut short`);
        const pad = dataBlocks - size;
        if (pad && (await reader.read(pad)).length < pad) throw new TarError(`truncated tar: padding of '${safeName}' is cut short`);
        if (entry.mode & 0o111) fs.chmodSync(target, 0o755);
      } else if (type === 'symlink') {
        checkSymlinkTarget(staging, safeName, linkname);
        fs.symlinkSync(linkname, target);
      } else {
        const src = hardlinkSource(staging, safeName, linkname);
        if (!fs.existsSync(src) || !inside(fs.realpathSync(staging), fs.realpathSync(src))) {
          throw new TarError(`refusing hard link '${safeName}' -> '${linkname}': not an earlier member inside the archive`);
        }
        fs.linkSync(src, target);
      }
      if (type !== 'file' && dataBlocks > 0) {
        if ((await reader.pipe(dataBlocks, () => undefined)) < dataBlocks) throw new TarError(`truncated tar at '${safeName}'`);
      }
      offset += dataBlocks;
      result.entries.push(entry);
      opts.onEntry?.(entry);
    }
    if (staging && dest) {
      for (const [d, m] of dirModes) fs.chmodSync(d, (m | 0o700) & 0o777);
      // move the top-level members into place (replacing older copies)
      for (const top of fs.readdirSync(staging)) {
        const to = path.join(dest, top);
        fs.rmSync(to, { recursive: true, force: true });
        fs.renameSync(path.join(staging, top), to);
      }
      fs.rmSync(staging, { recursive: true, force: true });
    }
    return result;
  } catch (e) {
    if (staging) fs.rmSync(staging, { recursive: true, force: true });
    const msg = (e as Error).message;
    throw new Error(`${archive}: ${msg}`);
  }
}

/** A symlink at `name` (relative to root) pointing to `linkname` must resolve inside root. */
function checkSymlinkTarget(root: string, name: string, linkname: string): void {
  if (linkname === '' || linkname.includes('\0')) throw new TarError(`refusing symlink '${name}': empty or invalid target`);
  if (/^([/\\]|[A-Za-z]:)/.test(linkname)) throw new TarError(`refusing symlink '${name}' -> '${linkname}': absolute target points outside the destination`);
  const base = path.resolve(root);
  const resolved = path.resolve(base, path.dirname(name), linkname);
  if (!inside(base, resolved)) throw new TarError(`refusing symlink '${name}' -> '${linkname}': target points outside the destination`);
}

/** A hard link's target is an archive member name (relative to the archive root), never outside it. */
function hardlinkSource(root: string, name: string, linkname: string): string {
  let rel: string;
  try {
    rel = safeEntryName(linkname);
  } catch (e) {
    throw new TarError(`refusing hard link '${name}' -> '${linkname}': target outside the destination (${(e as Error).message.replace(/^refusing tar entry '[^']*': /, '')})`);
  }
  return path.join(root, ...rel.split('/'));
}
