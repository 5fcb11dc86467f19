import { createHash } from 'node:crypto';
import type pg from 'pg';
import { OBJECT_KINDS, TABLE_MEMBER_KINDS, readCatalogObjects } from './catalogObjects.js';
import { equivalentDescriptions } from './rendering.js';
import { unifiedDiff } from './textDiff.js';
import { QUALIFIED_NAMES, inReadOnlyTransaction } from './transaction.js';

export interface SchemaFingerprint {
  /** sha256 (hex) of the canonical object list: equal hashes mean equal schemas. */
  readonly hash: string;
  /** Key like "column public.users.email" -> canonical description. */
  readonly objects: Readonly<Record<string, string>>;
}

export interface FingerprintOptions {
  /**
   * Reading some definitions (defaults, views, indexes) takes ACCESS SHARE on the table, which queues
   * behind a pending ACCESS EXCLUSIVE: fail after this long instead of joining the lock queue. Default 10 s.
   */
  readonly lockTimeoutMs?: number;
}

/**
 * The schema of the connected database, from the catalogs only (no table is scanned), in one
 * consistent snapshot. Equal across a pg_dump/pg_restore round trip; see catalogObjects.ts for what
 * is left out and why. The client must not be inside a transaction.
 */
export async function schemaFingerprint(client: pg.Client, options: FingerprintOptions = {}): Promise<SchemaFingerprint> {
  const settings = { ...QUALIFIED_NAMES, lock_timeout: String(options.lockTimeoutMs ?? 10_000) };
  const list = await inReadOnlyTransaction(client, { repeatableRead: true, settings }, () => readCatalogObjects(client));
  return fingerprintOf(list);
}

/** Builds a fingerprint from (key, description) pairs: the hash does not depend on their order. */
export function fingerprintOf(list: Iterable<readonly [string, string]>): SchemaFingerprint {
  const objects: Record<string, string> = {};
  for (const [key, description] of list) objects[key] = description;
  const hash = createHash('sha256');
  for (const key of Object.keys(objects).sort()) hash.update(`${key}\u0000${objects[key]}\n`);
  return { hash: hash.digest('hex'), objects: Object.freeze(objects) };
}

export interface DiffLabels {
  readonly expected: string;
  readonly actual: string;
}

const KIND_RANK = new Map<string, number>(OBJECT_KINDS.map((kind, index) => [kind, index]));
// Longest first, so "domain constraint x" is not read as kind "constraint".
const KINDS_LONGEST_FIRST = [...OBJECT_KINDS].sort((a, b) => b.length - a.length);

function kindOf(key: string): string {
  return KINDS_LONGEST_FIRST.find((kind) => key.startsWith(`${kind} `)) ?? '';
}

/** "column public.t.c" -> "table public.t"; undefined for objects that do not belong to a table. */
function owningTableKey(key: string): string | undefined {
  const kind = kindOf(key);
  if (!TABLE_MEMBER_KINDS.has(kind)) return undefined;
  const path = key.slice(kind.length + 1);
  const dot = path.lastIndexOf('.');
  return dot > 0 ? `table ${path.slice(0, dot)}` : undefined;
}

/** Kinds whose description is a definition a person reads: a difference is shown as a unified diff. */
const DEFINITION_KINDS: ReadonlySet<string> = new Set(['constraint', 'domain constraint', 'view', 'materialized view', 'function', 'procedure', 'aggregate', 'window function', 'trigger', 'policy', 'rule']);

const MAX_SHOWN = 160;

/** Both values, or for long ones (view and function definitions) a window around where they first differ. */
function excerpts(fullA: string, fullB: string): [string, string] {
  // Definitions of views and functions span lines; a difference is one line.
  const a = fullA.replace(/\s+/g, ' ');
  const b = fullB.replace(/\s+/g, ' ');
  if (a.length <= MAX_SHOWN && b.length <= MAX_SHOWN) return [a, b];
  let common = 0;
  while (common < a.length && common < b.length && a[common] === b[common]) common += 1;
  const start = Math.max(0, common - 40);
  const cut = (value: string) => `${start > 0 ? '…' : ''}${value.slice(start, start + MAX_SHOWN)}${start + MAX_SHOWN < value.length ? '…' : ''}`;
  return [cut(a), cut(b)];
}

function plural(count: number, kind: string): string {
  if (count === 1) return `1 ${kind}`;
  return `${count} ${kind.endsWith('x') ? `${kind.slice(0, -1)}ices` : `${kind}s`}`;
}

/** View definitions come one clause per line; a constraint is one line: split it at its top-level ANDs and ORs so a diff points at the term that differs. */
function definitionLines(description: string): string {
  return description.includes('\n') ? description : description.replace(/ (AND|OR) /g, '\n$1 ');
}

/**
 * Human-readable differences, most useful first (tables and columns before indexes, functions and
 * triggers; alphabetical within a kind). The columns, constraints, indexes... of a table that exists
 * on one side only are summarised on the table's line instead of listed. A constraint, view, function,
 * trigger, policy or rule that differs is shown as a short unified diff of its two definitions (one
 * string with newlines). Descriptions that only differ in how PostgreSQL prints an expression after a
 * dump and restore (rendering.ts) are equal. Empty when equal.
 */
export function diffFingerprints(expected: SchemaFingerprint, actual: SchemaFingerprint, labels: DiffLabels = { expected: 'expected', actual: 'actual' }): string[] {
  if (expected.hash === actual.hash) return [];
  const keys = new Set([...Object.keys(expected.objects), ...Object.keys(actual.objects)]);
  const onlyIn = (key: string): 'expected' | 'actual' | undefined => {
    const inExpected = Object.hasOwn(expected.objects, key);
    const inActual = Object.hasOwn(actual.objects, key);
    if (inExpected && !inActual) return 'expected';
    if (inActual && !inExpected) return 'actual';
    return undefined;
  };
  // Members that vanish or appear together with their table, counted per table and kind.
  const folded = new Map<string, Map<string, number>>();
  const differing: string[] = [];
  for (const key of keys) {
    const side = onlyIn(key);
    if (side === undefined && equivalentDescriptions(expected.objects[key] ?? '', actual.objects[key] ?? '')) continue;
    const table = owningTableKey(key);
    if (side !== undefined && table !== undefined && onlyIn(table) === side) {
      const counts = folded.get(table) ?? new Map<string, number>();
      counts.set(kindOf(key), (counts.get(kindOf(key)) ?? 0) + 1);
      folded.set(table, counts);
      continue;
    }
    differing.push(key);
  }
  differing.sort((a, b) => (KIND_RANK.get(kindOf(a)) ?? OBJECT_KINDS.length) - (KIND_RANK.get(kindOf(b)) ?? OBJECT_KINDS.length) || (a < b ? -1 : a > b ? 1 : 0));
  return differing.map((key) => {
    const side = onlyIn(key);
    const members = folded.get(key);
    const withMembers = members ? ` (with ${[...members].map(([kind, count]) => plural(count, kind)).join(', ')})` : '';
    if (side === 'actual') return `${key}: present in ${labels.actual}, absent in ${labels.expected}${withMembers}`;
    if (side === 'expected') return `${key}: present in ${labels.expected}, absent in ${labels.actual}${withMembers}`;
    const expectedText = expected.objects[key] ?? '';
    const actualText = actual.objects[key] ?? '';
    if (DEFINITION_KINDS.has(kindOf(key))) {
      let [a, b] = [definitionLines(expectedText), definitionLines(actualText)];
      // A long definition on one line: the window where the two start to differ.
      if (!a.includes('\n') && !b.includes('\n')) [a, b] = excerpts(a, b);
      const diff = unifiedDiff(a, b, { a: labels.expected, b: labels.actual });
      return [`${key}: ${labels.expected} vs ${labels.actual}`, ...diff].join('\n');
    }
    const [before, after] = excerpts(expectedText, actualText);
    return `${key}: ${labels.expected} "${before}" vs ${labels.actual} "${after}"`;
  });
}
