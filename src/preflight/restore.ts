import path from 'node:path';
import type pg from 'pg';
import { notExtensionMember, qualifiedName, userSchemaCondition } from '../db/userSchemas.js';
import { errorMessage } from '../errors.js';
import { redact } from '../util/redact.js';
import type { CheckResult } from '../validation/checks.js';
import { readArchiveContents, type ArchiveContents } from './archiveToc.js';
import type { Reached } from './connection.js';
import { counted, listed, pass, warn } from './result.js';

const NAME = 'restore:non-superuser';

/** What the restoring server allows a non-superuser to create. */
interface Trust {
  /** Extension -> why a non-superuser cannot create it (default version), or null when it can. */
  readonly extensions: ReadonlyMap<string, string | null>;
  /** Language -> trusted. */
  readonly languages: ReadonlyMap<string, boolean>;
}

async function readTrust(client: pg.Client, extensions: readonly string[]): Promise<Trust> {
  const available = await client.query<{ name: string; superuser: boolean; trusted: boolean }>(
    `SELECT e.name, v.superuser, v.trusted
       FROM pg_catalog.pg_available_extensions e
       JOIN pg_catalog.pg_available_extension_versions v ON v.name = e.name AND v.version = e.default_version
      WHERE e.name = ANY($1::text[])`,
    [extensions],
  );
  const byName = new Map(available.rows.map((row) => [row.name, row.superuser && !row.trusted ? 'untrusted: needs a superuser' : null]));
  const languages = await client.query<{ name: string; trusted: boolean }>('SELECT lanname AS name, lanpltrusted AS trusted FROM pg_catalog.pg_language');
  return {
    extensions: new Map(extensions.map((name) => [name, byName.has(name) ? (byName.get(name) ?? null) : 'not available on the server'])),
    languages: new Map(languages.rows.map((row) => [row.name, row.trusted])),
  };
}

/**
 * A language not yet on the server comes from the extension of the same name in the archive
 * (plperl, plpython3u): trusted when that extension is.
 */
function languageProblem(language: string, trust: Trust): string | null {
  const known = trust.languages.get(language);
  if (known !== undefined) return known ? null : 'untrusted';
  if (!trust.extensions.has(language)) return 'not installed on the server';
  return trust.extensions.get(language) === null ? null : 'untrusted';
}

function fromArchive(contents: ArchiveContents, trust: Trust): string[] {
  const found: string[] = [];
  for (const entry of contents.entries) {
    const name = entry.schema === null ? entry.tag : qualifiedName(entry.schema, entry.tag);
    switch (entry.kind) {
      case 'EVENT TRIGGER':
        found.push(`event trigger ${name}`);
        break;
      case 'EXTENSION': {
        const problem = trust.extensions.get(entry.tag);
        if (problem) found.push(`extension ${entry.tag} (${problem})`);
        break;
      }
      case 'FUNCTION':
      case 'PROCEDURE': {
        const language = contents.languages.get(name);
        const problem = language === undefined ? null : languageProblem(language, trust);
        if (problem) found.push(`${entry.kind.toLowerCase()} ${name} (language ${language}, ${problem})`);
        break;
      }
      case 'PROCEDURAL LANGUAGE': {
        const problem = languageProblem(entry.tag, trust);
        if (problem) found.push(`procedural language ${entry.tag} (${problem})`);
        break;
      }
      case 'FOREIGN DATA WRAPPER':
        found.push(`foreign data wrapper ${name}`);
        break;
      case 'SUBSCRIPTION':
        found.push(`subscription ${name}`);
        break;
    }
  }
  return found;
}

/** The same objects, read from the live catalogs of the database the next backup will be taken from. */
async function fromCatalogs(source: pg.Client, trustClient: pg.Client): Promise<string[]> {
  const query = async (sql: string) => (await source.query<{ what: string }>(sql)).rows.map((row) => row.what);
  const eventTriggers = await query(`SELECT 'event trigger ' || e.evtname AS what FROM pg_catalog.pg_event_trigger e WHERE ${notExtensionMember('pg_event_trigger', 'e.oid')} ORDER BY 1`);
  const extensionNames = await query(`SELECT extname AS what FROM pg_catalog.pg_extension ORDER BY 1`);
  const functions = await query(
    `SELECT CASE p.prokind WHEN 'p' THEN 'procedure ' ELSE 'function ' END || n.nspname || '.' || p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')'
            || ' (language ' || l.lanname || ', untrusted)' AS what
       FROM pg_catalog.pg_proc p
       JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
       JOIN pg_catalog.pg_language l ON l.oid = p.prolang
      WHERE NOT l.lanpltrusted AND ${userSchemaCondition('n')} AND ${notExtensionMember('pg_proc', 'p.oid')}
      ORDER BY 1`,
  );
  // Built-in languages (internal, c, sql) have OIDs below FirstNormalObjectId and are never dumped.
  const languages = await query(
    `SELECT 'procedural language ' || l.lanname || ' (untrusted)' AS what FROM pg_catalog.pg_language l
      WHERE l.lanispl AND NOT l.lanpltrusted AND l.oid >= 16384 AND ${notExtensionMember('pg_language', 'l.oid')} ORDER BY 1`,
  );
  const wrappers = await query(`SELECT 'foreign data wrapper ' || f.fdwname AS what FROM pg_catalog.pg_foreign_data_wrapper f WHERE ${notExtensionMember('pg_foreign_data_wrapper', 'f.oid')} ORDER BY 1`);
  const subscriptions = await query(
    `SELECT 'subscription ' || s.subname AS what FROM pg_catalog.pg_subscription s
      WHERE s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()) ORDER BY 1`,
  );
  const trust = await readTrust(trustClient, extensionNames);
  const extensions = extensionNames.flatMap((name) => {
    const problem = trust.extensions.get(name);
    return problem ? [`extension ${name} (${problem})`] : [];
  });
  return [...eventTriggers, ...extensions, ...functions, ...languages, ...wrappers, ...subscriptions];
}

export interface RestoreCheckInput {
  /** The target: its catalogs are what the next backup will hold. */
  readonly target: Extract<Reached, { ok: true }>;
  /** Where the rehearsal restores: its role restores and its server decides what is trusted. */
  readonly scratch: Reached;
  readonly pgRestore: string;
  readonly archive?: string | undefined;
}

/**
 * Objects a restore without superuser cannot recreate (pg_restore stops at the first with
 * --exit-on-error): event triggers, extensions that need a superuser, functions in untrusted
 * languages, untrusted procedural languages, foreign data wrappers, subscriptions. Read from the
 * archive's table of contents when one is given, else from the target's catalogs. Only asked when a
 * role that restores (the scratch server's for the rehearsal, the target's for a restore from backup)
 * is not a superuser.
 */
export async function nonSuperuserRestoreCheck(input: RestoreCheckInput): Promise<CheckResult> {
  const restorers = [input.scratch, input.target].filter((reached): reached is Extract<Reached, { ok: true }> => reached.ok);
  const plain = [...new Set(restorers.filter((reached) => !reached.facts.superuser).map((reached) => `role ${reached.facts.role} on ${reached.server}`))];
  if (plain.length === 0) {
    return pass(NAME, `restores run as a superuser (${[...new Set(restorers.map((reached) => reached.facts.role))].join(', ')}): every object can be recreated`);
  }
  const trustClient = input.scratch.ok ? input.scratch.client : input.target.client;
  let found: string[];
  let source: string;
  let unreadable = '';
  if (input.archive !== undefined) {
    try {
      const contents = await readArchiveContents(input.pgRestore, input.archive);
      const extensions = contents.entries.filter((entry) => entry.kind === 'EXTENSION').map((entry) => entry.tag);
      const languages = [...new Set(contents.languages.values())];
      // A language missing from the server may arrive with the extension of its name.
      found = fromArchive(contents, await readTrust(trustClient, [...new Set([...extensions, ...languages])]));
      source = `the archive ${path.basename(input.archive)}`;
    } catch (error) {
      unreadable = `could not read the archive ${path.basename(input.archive)} (${redact(errorMessage(error))}), checked the live catalogs instead; `;
      found = await fromCatalogs(input.target.client, trustClient);
      source = `database ${input.target.database} (read from its live catalogs)`;
    }
  } else {
    found = await fromCatalogs(input.target.client, trustClient);
    source = `database ${input.target.database} (read from its live catalogs)`;
  }
  const who = `${plain.join(' and ')} ${plain.length === 1 ? 'is not a superuser' : 'are not superusers'}`;
  if (found.length === 0) {
    const detail = `${unreadable}${who}; nothing in ${source} needs a superuser to restore`;
    return unreadable ? warn(NAME, detail) : pass(NAME, detail);
  }
  return warn(
    NAME,
    `${unreadable}${who}, so a restore of ${source} cannot recreate ${counted(found.length, 'object')}: ${listed(found)}; pg_restore stops at the first (the rehearsal's restore, and any restore from backup). Restore as a superuser, or drop these before the backup and recreate them by hand after`,
  );
}
