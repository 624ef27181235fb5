/** Plans files (`<plans name>.json`): atomic save and validated load. The Plans themselves (plans.ts) are Node-free. */
import * as fs from 'fs';
import { readJsonSync, writeJsonAtomic, writeJsonAtomicSync } from '../io/atomic';
import { checkPlansJSON, Plans, type PlansJSON } from './plans';

export async function savePlans(plans: Plans | PlansJSON, file: string): Promise<void> {
  await writeJsonAtomic(file, plans instanceof Plans ? plans.toJSON() : plans);
}

export function savePlansSync(plans: Plans | PlansJSON, file: string): void {
  writeJsonAtomicSync(file, plans instanceof Plans ? plans.toJSON() : plans);
}

export function loadPlans(file: string): Plans {
  if (!fs.existsSync(file)) throw new Error(`loadPlans: ${file} does not exist`);
  return new Plans(checkPlansJSON(readJsonSync(file), file));
}
