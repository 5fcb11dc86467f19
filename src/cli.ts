#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { backupCommand } from './commands/backup.js';
import { backupsCommand } from './commands/backups.js';
import { checkCommand } from './commands/check.js';
import { currentCommand } from './commands/current.js';
import { daemonCommand } from './commands/daemon.js';
import { demoCommand } from './commands/demo.js';
import { downgradeCommand } from './commands/downgrade.js';
import { exitCodesCommand } from './commands/exitCodes.js';
import { failedDbsCommand } from './commands/failedDbs.js';
import { historyCommand } from './commands/history.js';
import { lintCommand } from './commands/lint.js';
import { restoreCommand } from './commands/restore.js';
import { rollbackCommand } from './commands/rollback.js';
import { testCommand } from './commands/test.js';
import { upgradeCommand } from './commands/upgrade.js';
import { validateCommand } from './commands/validate.js';
import { commandExitCode } from './commands/exitCode.js';
import { globalOptions } from './commands/options.js';
import { EXIT_CODES, ExitCode, OrchestrateError, UsageError, errorMessage } from './errors.js';
import { redact } from './util/redact.js';

const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

function buildParser(argv: readonly string[]) {
  return globalOptions(yargs([...argv]))
    .scriptName('orchestrate')
    .usage('$0 <command> [options]\n\nProduction-safety migration orchestrator for PostgreSQL.')
    .command(upgradeCommand)
    .command(downgradeCommand)
    .command(rollbackCommand)
    .command(testCommand)
    .command(validateCommand)
    .command(currentCommand)
    .command(historyCommand)
    .command(checkCommand)
    .command(lintCommand)
    .command(backupCommand)
    .command(backupsCommand)
    .command(restoreCommand)
    .command(failedDbsCommand)
    .command(daemonCommand)
    .command(demoCommand)
    .command(exitCodesCommand)
    .demandCommand(1, 'name a command (orchestrate --help lists them)')
    // Fail closed: an unknown command or a misspelt flag must never turn into a different run.
    .strict()
    .recommendCommands()
    .version(packageJson.version)
    .help()
    .alias('h', 'help')
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((message: string | undefined, error: Error | undefined) => {
      // Handler errors pass through here too; only yargs' own complaints (YError) are usage errors.
      if (error && error.name !== 'YError') throw error;
      throw new UsageError(tidyYargsMessage(message ?? error?.message ?? 'invalid command line'));
    });
}

/** yargs lists an unknown flag twice (`dry-runn, dryRunn`); keep the spelling the user typed. */
function tidyYargsMessage(message: string): string {
  return message.replace(/^(Unknown arguments?): (.*)$/s, (_whole, label: string, list: string) => {
    const names = list.split(', ');
    const typed = names.filter((name) => !names.some((other) => other !== name && other.includes('-') && other.replace(/-(\w)/g, (_m, c: string) => c.toUpperCase()) === name));
    return `${label.toLowerCase().replace('arguments', 'command or options').replace('argument', 'command or option')}: ${typed.join(', ')}`;
  });
}

/** The one error boundary: typed errors become their documented exit codes, everything else is 1. */
function report(error: unknown, json: boolean): number {
  const known = error instanceof OrchestrateError;
  const exitCode = known ? error.exitCode : ExitCode.Internal;
  const message = redact(known ? error.message : `internal error: ${errorMessage(error)}`);
  const hint = known && error.hint ? ` (${redact(error.hint)})` : '';
  process.stderr.write(`orchestrate: ${message.replace(/\s*\n\s*/g, ' ')}${hint}\n`);
  if (!known && process.env.ORCHESTRATE_DEBUG && error instanceof Error && error.stack) process.stderr.write(`${redact(error.stack)}\n`);
  if (json) process.stdout.write(`${JSON.stringify({ ok: false, exitCode, error: message, meaning: EXIT_CODES[exitCode].meaning, production: EXIT_CODES[exitCode].production })}\n`);
  return exitCode;
}

async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildParser(argv).parseAsync();
    return commandExitCode();
  } catch (error) {
    return report(error, argv.includes('--json'));
  }
}

main(hideBin(process.argv)).then(
  (code) => process.exit(code),
  (error: unknown) => process.exit(report(error, false)),
);
