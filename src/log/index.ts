// Public face of the partitioned log. Implementation lands with the foundation issue.
export type * from './types.ts';
