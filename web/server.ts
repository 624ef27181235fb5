/**
 * The web app's HTTP server (`nnunet-ts serve`): the built app (web/build.ts) and the served models, on 127.0.0.1.
 * Read-only: GET and HEAD of known paths; nothing the page does reaches the file system (the scan stays in the page).
 * The URL layout is the static export's (`serve --export DIR`), so the same build runs from any static host.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import type { AddressInfo } from 'net';
import { modelsIndex, type ServedModel } from '../sdk/model/web_model_files';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
};

export interface WebServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface ServeOptions {
  appDir: string;
  models: readonly ServedModel[];
  /** default 127.0.0.1 (the page and the models stay on this machine) */
  host?: string;
  /** default 8080; 0 picks a free port */
  port?: number;
  /** one line per request (default none) */
  log?: (line: string) => void;
}

export async function serveWebApp(o: ServeOptions): Promise<WebServer> {
  const appDir = path.resolve(o.appDir);
  const byId = new Map(o.models.map((m) => [m.id, m]));
  const index = Buffer.from(JSON.stringify(modelsIndex(o.models)));
  const server = http.createServer((req, res) => {
    const send = (status: number, body: Uint8Array | string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' });
      res.end(req.method === 'HEAD' ? undefined : body);
      o.log?.(`${req.method} ${req.url} ${status}`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'only GET and HEAD\n');
    let p: string;
    try {
      p = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return send(400, 'bad URL\n');
    }
    if (p === '/') p = '/index.html';
    if (p === '/models/index.json') return send(200, index, TYPES['.json']);
    const mm = /^\/models\/([^/]+)\/([^/]+)$/.exec(p);
    if (mm) {
      const m = byId.get(mm[1]);
      if (!m) return send(404, `no model '${mm[1]}'\n`);
      if (mm[2] === 'model.json') return send(200, JSON.stringify(m.manifest), TYPES['.json']);
      const blob = m.blobs.get(mm[2]);
      return blob ? send(200, blob, TYPES['.bin']) : send(404, `model '${mm[1]}' has no file '${mm[2]}'\n`);
    }
    // the app's own files: only inside appDir, no dot files
    const file = path.resolve(appDir, `.${p}`);
    if (!file.startsWith(appDir + path.sep) || p.split('/').some((s) => s.startsWith('.'))) return send(404, 'not found\n');
    fs.readFile(file, (err, data) => {
      if (err) return send(404, 'not found\n');
      send(200, data, TYPES[path.extname(file)] ?? 'application/octet-stream');
    });
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 8080, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}/`,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
