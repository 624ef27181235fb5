/**
 * A key of input files for caches (make-style): each file's absolute path, size and modification time. Cheap (no
 * reading), and any rewrite of a file changes it. Used by the fingerprint, preprocessing and prediction caches.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

export function filesKey(files: readonly string[]): string {
  const entries = files.map((f) => {
    const st = fs.statSync(f);
    return [path.resolve(f), st.size, st.mtimeMs];
  });
  return crypto.createHash('sha256').update(JSON.stringify(entries)).digest('hex');
}
