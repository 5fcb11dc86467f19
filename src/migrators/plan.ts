import { RefusedError, UsageError } from '../errors.js';
import type { Migration, MigrationState } from './types.js';

/** A revision to move to: an id, or null for "nothing applied" (base). */
export type Revision = string | null;

export interface HistoryEntry extends Migration {
  readonly applied: boolean;
}

function indexOf(migrations: readonly Migration[], revision: Revision): number {
  if (revision === null) return -1;
  const index = migrations.findIndex((migration) => migration.id === revision);
  if (index < 0) {
    throw new RefusedError(`the database is at revision "${revision}", which the project's migrations do not contain`, {
      hint: 'is the migrator pointed at the right project (migrator.cwd)?',
    });
  }
  return index;
}

/**
 * Resolves what the user typed: `head`, `base`, an id or a unique prefix of one, or a relative
 * step (`-1`, `+2`) from the current revision.
 */
export function resolveTarget(migrations: readonly Migration[], current: Revision, spec: string): Revision {
  const trimmed = spec.trim();
  if (trimmed === 'head' || trimmed === 'heads') {
    const last = migrations.at(-1);
    if (!last) throw new UsageError('the project defines no migrations');
    return last.id;
  }
  if (trimmed === 'base') return null;
  const relative = /^([+-])(\d+)$/.exec(trimmed);
  if (relative) {
    const step = Number(relative[2]) * (relative[1] === '-' ? -1 : 1);
    const index = indexOf(migrations, current) + step;
    if (index < -1 || index >= migrations.length) {
      throw new UsageError(`cannot move ${trimmed} from ${current ?? 'base'}: only ${migrations.length} migrations exist`);
    }
    return index === -1 ? null : (migrations[index]?.id ?? null);
  }
  const exact = migrations.find((migration) => migration.id === trimmed);
  if (exact) return exact.id;
  const prefixed = migrations.filter((migration) => migration.id.startsWith(trimmed));
  if (prefixed.length === 1 && prefixed[0]) return prefixed[0].id;
  if (prefixed.length > 1) throw new UsageError(`revision "${trimmed}" is ambiguous: ${prefixed.map((m) => m.id).join(', ')}`);
  throw new UsageError(`unknown revision "${trimmed}"`);
}

export function history(migrations: readonly Migration[], state: MigrationState): HistoryEntry[] {
  return migrations.map((migration) => ({ ...migration, applied: state.applied.has(migration.id) }));
}

/** Migrations an upgrade to `target` would apply, in order. */
export function pendingUpgrades(migrations: readonly Migration[], state: MigrationState, target: Revision): Migration[] {
  const end = indexOf(migrations, target);
  return migrations.slice(0, end + 1).filter((migration) => !state.applied.has(migration.id));
}

/** Migrations a downgrade to `target` would revert, newest first. */
export function pendingDowngrades(migrations: readonly Migration[], state: MigrationState, target: Revision): Migration[] {
  const keep = indexOf(migrations, target);
  return migrations
    .slice(keep + 1)
    .filter((migration) => state.applied.has(migration.id))
    .reverse();
}

/** In a linear history, the applied set is everything up to and including the current revision. */
export function linearState(migrations: readonly Migration[], current: Revision): MigrationState {
  const end = indexOf(migrations, current);
  return { current, applied: new Set(migrations.slice(0, end + 1).map((migration) => migration.id)) };
}
