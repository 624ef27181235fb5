/** sdk/protocol: the reproduction protocol as a job graph, run locally or on Slurm. */
export * from './spec';
export * from './graph';
export * from './store';
export * from './status';
export { runStep, loadProtocolTask, type StepRunOptions, type StepOutcome } from './steps';
export { runLocal, cliInvocation, type LocalRunOptions, type LocalRunResult } from './local';
export { submitSlurm, cancelSlurm, readQueue, sbatchScript, formatSubmit, jobNamePrefix, type SlurmOptions, type SubmitResult, type GroupJob } from './slurm';
export { Protocol, protocolSpecFor, type ProtocolOptions, type ProtocolTaskLike } from './protocol';
