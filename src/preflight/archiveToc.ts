import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pgRestoreList, pgRestoreSchemaScript } from '../exec/pgRestore.js';
import { lastLines } from '../exec/process.js';

/** The kinds of archive entry that a restore as a non-superuser may not be able to recreate. */
const KINDS = ['EVENT TRIGGER', 'EXTENSION', 'FUNCTION', 'PROCEDURE', 'PROCEDURAL LANGUAGE', 'FOREIGN DATA WRAPPER', 'SUBSCRIPTION'] as const;
export type TocKind = (typeof KINDS)[number];

/** One line of `pg_restore --list`: `3345; 3466 16567 EVENT TRIGGER - log_ddl_trg postgres`. */
export interface TocEntry {
  /** The line as printed, for a --use-list file. */
  readonly line: string;
  readonly kind: TocKind;
  /** null for objects outside schemas (`-`). */
  readonly schema: string | null;
  /** The name; for a function, with its argument types: `f(integer, text)`. */
  readonly tag: string;
}

/**
 * The entries of KINDS in a `pg_restore --list` listing. The description can be several words and
 * the tag can hold spaces, so the kind is matched from the known list and the owner is the last word
 * (empty for an extension).
 */
export function parseTocList(listing: string): TocEntry[] {
  const entries: TocEntry[] = [];
  for (const line of listing.split('\n')) {
    const match = /^\d+; \d+ \d+ (.*)$/.exec(line);
    if (!match?.[1]) continue;
    const text = match[1];
    const kind = KINDS.find((candidate) => text.startsWith(`${candidate} `));
    if (!kind) continue;
    const rest = text.slice(kind.length + 1);
    const space = rest.indexOf(' ');
    if (space < 0) continue;
    const schema = rest.slice(0, space);
    const tagAndOwner = rest.slice(space + 1);
    const tag = tagAndOwner.slice(0, Math.max(0, tagAndOwner.lastIndexOf(' ')));
    entries.push({ line, kind, schema: schema === '-' ? null : schema, tag: tag || tagAndOwner });
  }
  return entries;
}

/** "schema.f(args)" -> language, from the SQL pg_restore prints for function entries. */
export function parseFunctionLanguages(script: string): Map<string, string> {
  const languages = new Map<string, string>();
  for (const block of script.split(/^-- Name: /m).slice(1)) {
    const header = /^(.*); Type: (?:FUNCTION|PROCEDURE); Schema: ([^;]*); Owner: /.exec(block);
    const language = /^\s+LANGUAGE (\S+)\s*$/m.exec(block);
    if (header?.[1] && header[2] !== undefined && language?.[1]) languages.set(`${header[2]}.${header[1]}`, language[1]);
  }
  return languages;
}

export interface ArchiveContents {
  readonly entries: readonly TocEntry[];
  /** Language of each function and procedure, keyed "schema.f(args)". */
  readonly languages: ReadonlyMap<string, string>;
}

/**
 * Reads the archive's table of contents, and the definitions of its functions (the listing does not
 * show their language). Only definitions are read, never table data. Throws when pg_restore cannot read it.
 */
export async function readArchiveContents(pgRestore: string, archive: string): Promise<ArchiveContents> {
  const list = await pgRestoreList(pgRestore, archive);
  if (!list.ok) throw new Error(`${list.command} failed: ${lastLines(list.stderr) || `exit code ${list.exitCode}`}`);
  const entries = parseTocList(list.stdout);
  const functions = entries.filter((entry) => entry.kind === 'FUNCTION' || entry.kind === 'PROCEDURE');
  if (functions.length === 0) return { entries, languages: new Map() };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'orchestrate-toc-'));
  try {
    const listFile = path.join(dir, 'functions.list');
    writeFileSync(listFile, `${functions.map((entry) => entry.line).join('\n')}\n`, { mode: 0o600 });
    const script = await pgRestoreSchemaScript(pgRestore, archive, listFile);
    if (!script.ok) throw new Error(`${script.command} failed: ${lastLines(script.stderr) || `exit code ${script.exitCode}`}`);
    return { entries, languages: parseFunctionLanguages(script.stdout) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
