/**
 * The few configuration values the command line's parser needs (the `--env` choices, the `--reason`
 * limit), kept apart from the schema so that parsing a command line does not load zod and the
 * schema's validators (config/schema.ts re-exports them).
 */
export const ENVIRONMENTS = ['production', 'staging', 'development'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

/** The longest `--reason`: it is recorded in every report, audit line and manifest, and redacted on each. */
export const MAX_REASON_LENGTH = 1000;
