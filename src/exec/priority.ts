import { resolveProgram } from './supervisor.js';

/** How much a bulk tool yields to the application on the same machine (backup.niceness, backup.ioPriority). */
export interface ProcessPriority {
  /** nice(1) level 0-19; 0 leaves the CPU priority as it is. */
  readonly niceness: number;
  /** ionice(1) class: `idle` gets the disk only when nobody else wants it; `best-effort` at its lowest level 7. */
  readonly ioClass: 'normal' | 'best-effort' | 'idle';
}

const IONICE_ARGS: Readonly<Record<Exclude<ProcessPriority['ioClass'], 'normal'>, readonly string[]>> = {
  idle: ['-c', '3'],
  'best-effort': ['-c', '2', '-n', '7'],
};

const onPath = (program: string) => resolveProgram(program, undefined, process.env.PATH);

/** Why the priority cannot be applied as configured: the wrappers missing from PATH (the tool then runs without them). */
export function priorityProblems(priority: ProcessPriority): string[] {
  const problems: string[] = [];
  if (priority.niceness > 0 && !onPath('nice')) problems.push(`backup.niceness ${priority.niceness}: nice is not on PATH, the tool runs at normal CPU priority`);
  if (priority.ioClass !== 'normal' && !onPath('ionice')) problems.push(`backup.ioPriority ${priority.ioClass}: ionice (util-linux) is not on PATH, the tool runs at normal I/O priority`);
  return problems;
}

/**
 * `program args` run at a lower CPU and I/O priority: `nice -n N ionice -c C program args`. nice and
 * ionice set the priority and exec the next program, so one process ends up running the tool: the
 * pid runProgram supervises and times out, with the environment (and so the password) it was given,
 * and the workers a parallel pg_dump or pg_restore forks inherit both priorities. A wrapper missing
 * from PATH is left out (priorityProblems says so), and so is every wrapper when the tool itself
 * cannot be found: runProgram then reports the missing tool as it always does.
 */
export function withPriority(program: string, args: readonly string[], priority: ProcessPriority | undefined): { program: string; args: readonly string[] } {
  if (!priority) return { program, args };
  const tool = onPath(program);
  if (!tool) return { program, args };
  const nice = priority.niceness > 0 ? onPath('nice') : undefined;
  const ionice = priority.ioClass !== 'normal' ? onPath('ionice') : undefined;
  const chain: string[] = [
    ...(nice ? [nice, '-n', String(priority.niceness)] : []),
    ...(ionice && priority.ioClass !== 'normal' ? [ionice, ...IONICE_ARGS[priority.ioClass]] : []),
  ];
  const [first, ...rest] = chain;
  if (first === undefined) return { program, args };
  return { program: first, args: [...rest, tool, ...args] };
}

/** The priority backup.niceness and backup.ioPriority ask for; undefined when both are off (the default). */
export function configuredPriority(backup: { readonly niceness: number; readonly ioPriority: ProcessPriority['ioClass'] }): ProcessPriority | undefined {
  if (backup.niceness === 0 && backup.ioPriority === 'normal') return undefined;
  return { niceness: backup.niceness, ioClass: backup.ioPriority };
}
