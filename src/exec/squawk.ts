import { createRequire } from 'node:module';
import { z } from 'zod';
import { ToolError, errorMessage } from '../errors.js';
import { lastLines, runProgram } from './process.js';

/** One violation as squawk's JSON reporter prints it; lines and columns count from 0. */
export interface SquawkViolation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly rule: string;
  readonly level: string;
  readonly message: string;
  readonly help: string | null;
}

export interface SquawkOptions {
  /** SQL files to lint, relative to `cwd`. */
  readonly files: readonly string[];
  /** squawk looks for a .squawk.toml from here upwards; the caller puts an empty one here so no stray config applies. */
  readonly cwd: string;
  /** The server's version (`15.4`): squawk judges e.g. ADD COLUMN ... DEFAULT by it. */
  readonly pgVersion: string;
  readonly exclude: readonly string[];
  readonly timeoutMs?: number;
}

const reportSchema = z.array(
  z.looseObject({
    file: z.string(),
    line: z.number().int(),
    column: z.number().int(),
    level: z.string(),
    message: z.string(),
    help: z.string().nullable().optional(),
    rule_name: z.string(),
  }),
);

/** The documentation page squawk itself links each rule to. */
export function squawkRuleLink(rule: string): string {
  return `https://squawkhq.com/docs/${rule}`;
}

/** The platform binary inside squawk-cli's optional npm package (squawk-cli resolves it itself). */
function squawkBinary(): string {
  const squawkCli = createRequire(import.meta.url)('squawk-cli/js/index.js') as { getBinaryPath(): string };
  try {
    return squawkCli.getBinaryPath();
  } catch (error) {
    throw new ToolError(`squawk is not available on this platform: ${errorMessage(error).split('\n')[0] ?? ''}`, '');
  }
}

/** Runs squawk with its JSON reporter. Exit 0 (clean) and 1 (violations) both carry the report on stdout. */
export async function runSquawk(options: SquawkOptions): Promise<SquawkViolation[]> {
  if (options.files.length === 0) return [];
  const run = await runProgram({
    program: squawkBinary(),
    args: [
      '--reporter',
      'json',
      '--pg-version',
      options.pgVersion,
      ...(options.exclude.length > 0 ? ['--exclude', options.exclude.join(',')] : []),
      '--',
      ...options.files,
    ],
    cwd: options.cwd,
    timeoutMs: options.timeoutMs ?? 60_000,
  });
  if (run.exitCode !== 0 && run.exitCode !== 1) {
    throw new ToolError(`squawk failed: ${lastLines(run.stderr || run.stdout) || `exit code ${run.exitCode}`}`, run.stderr);
  }
  let parsed: z.infer<typeof reportSchema>;
  try {
    parsed = reportSchema.parse(JSON.parse(run.stdout));
  } catch (error) {
    throw new ToolError(`squawk printed a report orchestrate cannot read: ${errorMessage(error).split('\n')[0] ?? ''}`, run.stderr, undefined, { cause: error });
  }
  return parsed.map((entry) => ({
    file: entry.file,
    line: entry.line,
    column: entry.column,
    rule: entry.rule_name,
    level: entry.level,
    message: entry.message,
    help: entry.help ?? null,
  }));
}
