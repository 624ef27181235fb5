import type { CommandSpec } from '../args';
import { doctor } from '../../network/backend';

export const doctorCommand: CommandSpec = {
  name: 'doctor',
  summary: 'print the compute backend, why others were skipped, the WebGPU adapter and a one-line speed probe',
  usage: 'doctor [--backend webgpu|wasm|cpu|tensorflow] [--json]',
  flags: [
    { name: 'backend', type: 'string', help: 'force a backend', env: 'NNUNET_BACKEND' },
    { name: 'json', type: 'boolean', help: 'print the full report as JSON' },
  ],
  async run({ flags }) {
    const backend = flags.backend as 'webgpu' | 'wasm' | 'cpu' | 'tensorflow' | undefined;
    const r = await doctor(backend ? { backend } : {});
    if (flags.json) console.log(JSON.stringify(r, null, 2));
    else {
      console.log(r.line);
      for (const s of r.skipped) console.log(`skipped: ${s}`);
      console.log(`webgpu adapter: ${r.webgpu.line}`);
    }
    return 0;
  },
};
