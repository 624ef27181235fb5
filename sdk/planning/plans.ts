/**
 * Plans: the plans.json document (nnU-Net v2 schema) with accessors for notebooks.
 * Types live in plans_types.ts (re-exported here).
 */
export * from './plans_types';
