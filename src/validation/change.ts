import { diffFingerprints, fingerprintOf, type DiffLabels, type SchemaFingerprint } from './fingerprint.js';
import { equivalentDescriptions } from './rendering.js';

/** One database's schema before and after a migration. */
export interface SchemaChange {
  readonly before: SchemaFingerprint;
  readonly after: SchemaFingerprint;
}

/** Keys of the objects a change created, dropped or altered. */
function changedKeys(change: SchemaChange): string[] {
  const keys = new Set([...Object.keys(change.before.objects), ...Object.keys(change.after.objects)]);
  return [...keys].filter((key) => change.before.objects[key] !== change.after.objects[key]);
}

/** The text a change removed and the text it put in its place, around their common prefix and suffix. */
function edit(before: string, after: string): [removed: string, inserted: string] {
  let prefix = 0;
  while (prefix < before.length && prefix < after.length && before[prefix] === after[prefix]) prefix += 1;
  let suffix = 0;
  while (suffix < before.length - prefix && suffix < after.length - prefix && before[before.length - 1 - suffix] === after[after.length - 1 - suffix]) suffix += 1;
  return [before.slice(prefix, before.length - suffix), after.slice(prefix, after.length - suffix)];
}

/**
 * Whether both changes left the object `key` in the same state. Both dropped it, or both results are
 * equal (up to rendering.ts's canonical form). When the two copies printed the object differently to
 * begin with (a dump and restore in between), the same edit applied to both also counts: a SET NOT NULL
 * on a column whose default pg_restore re-rendered inserts the same "not null" on both sides.
 */
function sameOutcome(key: string, expected: SchemaChange, actual: SchemaChange): boolean {
  const expectedAfter = expected.after.objects[key];
  const actualAfter = actual.after.objects[key];
  if (expectedAfter === undefined || actualAfter === undefined) return expectedAfter === actualAfter;
  if (equivalentDescriptions(expectedAfter, actualAfter)) return true;
  const expectedBefore = expected.before.objects[key];
  const actualBefore = actual.before.objects[key];
  if (expectedBefore === undefined || actualBefore === undefined || expectedBefore === actualBefore) return false;
  const [expectedRemoved, expectedInserted] = edit(expectedBefore, expectedAfter);
  const [actualRemoved, actualInserted] = edit(actualBefore, actualAfter);
  return expectedRemoved === actualRemoved && expectedInserted === actualInserted;
}

/**
 * Compares what two migrations of the same schema changed, object by object, not how the two
 * databases print objects neither touched. `expected` is the rehearsal: its copy came out of pg_restore,
 * which re-renders some untouched expressions (rendering.ts), so comparing end states directly would
 * report differences the migration did not make. An object counts when either change created, dropped
 * or altered it; it differs when the two ended in different states (see sameOutcome). The result reads
 * like diffFingerprints of the two end states, restricted to those objects. Empty when the changes match.
 */
export function diffChanges(expected: SchemaChange, actual: SchemaChange, labels: DiffLabels): string[] {
  const touched = new Set([...changedKeys(expected), ...changedKeys(actual)]);
  const differing = [...touched].filter((key) => !sameOutcome(key, expected, actual));
  const endState = (fingerprint: SchemaFingerprint) =>
    fingerprintOf(differing.flatMap((key) => (Object.hasOwn(fingerprint.objects, key) ? [[key, fingerprint.objects[key] ?? ''] as const] : [])));
  return diffFingerprints(endState(expected.after), endState(actual.after), labels);
}

/** How many objects a change created, dropped or altered. */
export function changedObjectCount(change: SchemaChange): number {
  return changedKeys(change).length;
}
