/** Environment variables where there is a process (Node); none in a browser page. Node-free. */
export function envVar(name: string): string | undefined {
  return typeof process !== 'undefined' && process.env ? process.env[name] : undefined;
}

/** True under Node.js (false in a browser page or a web worker). */
export function isNode(): boolean {
  return typeof process !== 'undefined' && Boolean(process.versions?.node);
}
