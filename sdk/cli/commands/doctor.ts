import type { CommandSpec } from '../args';
import { doctor } from '../../network/backend';

export const doctorCommand: CommandSpec = {
  name: 'doctor',
  summary: 'print the compute backend, versions and a one-line speed probe',
  usage: 'doctor [--backend wasm|cpu|tensorflow] [--json]',
  flags: [
    { name: 'backend', type: 'string', help: 'force a backend', env: 'NNUNET_BACKEND' },
    { name: 'json', type: 'boolean', help: 'print the full report as JSON' },
  ],
  async run({ flags }) {
    const backend = flags.backend as 'wasm' | 'cpu' | 'tensorflow' | undefined;
    const r = await doctor(backend ? { backend } : {});
    console.log(flags.json ? JSON.stringify(r, null, 2) : r.line);
    return 0;
  },
};
