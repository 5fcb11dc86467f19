import type { Settings } from '../config/settings.js';
import { errorMessage } from '../errors.js';
import { pgProgram, toolVersion, type ToolVersion } from '../exec/pgDump.js';
import { redact } from '../util/redact.js';
import type { CheckResult } from '../validation/checks.js';
import type { ServerFacts } from './connection.js';
import { fail, pass, warn } from './result.js';

export type ToolName = 'pg_dump' | 'pg_restore';

/** A client program's version, or why it could not be read. */
export type FoundTool = { readonly program: string; readonly ok: true; readonly version: ToolVersion } | { readonly program: string; readonly ok: false; readonly reason: string };

export async function findTool(settings: Settings, name: ToolName): Promise<FoundTool> {
  const program = pgProgram(settings.tools.pgBinDir, name);
  try {
    return { program, ok: true, version: await toolVersion(program) };
  } catch (error) {
    return { program, ok: false, reason: redact(errorMessage(error)) };
  }
}

const INSTALL_HINT = 'install the PostgreSQL client tools of the server version or newer, or point tools.pgBinDir at them';

/**
 * pg_dump refuses a server of a newer major version; pg_restore must read what that pg_dump writes.
 * `dump` is pg_dump's result, for pg_restore's check: an older pg_restore may not read a newer archive format.
 */
export function toolCheck(name: ToolName, tool: FoundTool, server: ServerFacts | undefined, dump?: FoundTool): CheckResult {
  const check = name === 'pg_dump' ? 'tools:pg_dump' : 'tools:pg_restore';
  if (!tool.ok) return fail(check, `${tool.reason}; ${INSTALL_HINT}`);
  const found = `${name} ${tool.version.version} (${tool.program})`;
  if (!server) return warn(check, `${found}; not compared: the server's version is unknown (see the server check)`);
  if (tool.version.major < server.major) {
    const why = name === 'pg_dump' ? 'it cannot dump a newer major version' : 'it cannot restore what a pg_dump for this server writes';
    return fail(check, `${name} ${tool.version.version} is older than the server (PostgreSQL ${server.version}): ${why}; install ${name} ${server.major} or newer, or point tools.pgBinDir at it`);
  }
  if (dump?.ok && tool.version.major < dump.version.major) {
    return warn(check, `${found} is older than pg_dump ${dump.version.version}: it may not read the archive format pg_dump writes; use the same version for both`);
  }
  return pass(check, `${found}, server PostgreSQL ${server.version}`);
}

/** The tools checks of a run that takes no backup: nothing is dumped or restored. */
export function toolNotNeeded(name: ToolName): CheckResult {
  return pass(name === 'pg_dump' ? 'tools:pg_dump' : 'tools:pg_restore', 'not needed: this run takes no backup');
}
