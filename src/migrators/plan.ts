import { RefusedError, UsageError } from '../errors.js';
import type { Migration, MigrationDirection, MigrationPlan, MigrationState } from './types.js';

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

/** Each migration's parents: the ones it names, else the one before it in the list. */
function parentsOf(migrations: readonly Migration[]): Map<string, readonly string[]> {
  return new Map(migrations.map((migration, index) => [migration.id, migration.parents ?? (index > 0 ? [migrations[index - 1]?.id ?? ''] : [])]));
}

/** `revision` and everything it was built on: what is applied when the database is at it. */
export function ancestry(migrations: readonly Migration[], revision: Revision): Set<string> {
  indexOf(migrations, revision);
  const parents = parentsOf(migrations);
  const seen = new Set<string>();
  const pending = revision === null ? [] : [revision];
  for (let id = pending.pop(); id !== undefined; id = pending.pop()) {
    if (seen.has(id)) continue;
    seen.add(id);
    pending.push(...(parents.get(id) ?? []));
  }
  return seen;
}

/** `revision` and everything built on it. */
function descendants(migrations: readonly Migration[], revision: string): Set<string> {
  const parents = parentsOf(migrations);
  const seen = new Set([revision]);
  // Listed parents first, so one pass in list order reaches every descendant.
  for (const migration of migrations) if ((parents.get(migration.id) ?? []).some((parent) => seen.has(parent))) seen.add(migration.id);
  return seen;
}

/**
 * The revisions a relative step can land on from `current`, in list order: those the database can be
 * moved to and then have that one revision as its only head. In one line that is every revision; in
 * a history that branches and merges, the revisions inside a branch-and-merge diamond are skipped
 * (from a merge, one step down is the merge or branch point before it, not one side of the diamond).
 */
function singleHeadStops(migrations: readonly Migration[], current: Revision): string[] {
  const applied = [...ancestry(migrations, current)];
  return migrations
    .filter((migration) => {
      const below = ancestry(migrations, migration.id);
      if (!applied.includes(migration.id)) return applied.every((id) => below.has(id));
      const above = descendants(migrations, migration.id);
      return applied.every((id) => below.has(id) || above.has(id));
    })
    .map((migration) => migration.id);
}

/** The migrations of `applied` that no other applied migration builds on, in list order. */
export function headsOf(migrations: readonly Migration[], applied: ReadonlySet<string>): string[] {
  const parents = parentsOf(migrations);
  const built = new Set([...applied].flatMap((id) => parents.get(id) ?? []));
  return migrations.filter((migration) => applied.has(migration.id) && !built.has(migration.id)).map((migration) => migration.id);
}

/**
 * Resolves what the user typed: `head`, `base`, an id or a unique prefix of one, or a relative
 * step (`-1`, `+2`) from the current revision along the history as listed (oldest first).
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
    const stops = singleHeadStops(migrations, current);
    const index = (current === null ? -1 : stops.indexOf(current)) + step;
    if (index < -1 || index >= stops.length) {
      throw new UsageError(`cannot move ${trimmed} from ${current ?? 'base'}: only ${stops.length} revisions can be stepped to`);
    }
    return index === -1 ? null : (stops[index] ?? null);
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

/** Migrations an upgrade to `target` would apply, parents before children. */
export function pendingUpgrades(migrations: readonly Migration[], state: MigrationState, target: Revision): Migration[] {
  const needed = ancestry(migrations, target);
  return migrations.filter((migration) => needed.has(migration.id) && !state.applied.has(migration.id));
}

/** Migrations a downgrade to `target` would revert, children before parents. */
export function pendingDowngrades(migrations: readonly Migration[], state: MigrationState, target: Revision): Migration[] {
  const kept = ancestry(migrations, target);
  return migrations.filter((migration) => state.applied.has(migration.id) && !kept.has(migration.id)).reverse();
}

/** The applied set is the current revision and everything it was built on (one line or merged branches alike). */
export function stateAt(migrations: readonly Migration[], current: Revision): MigrationState {
  return { current, applied: ancestry(migrations, current) };
}

/**
 * The plan, checked to end at one revision: a target on another branch than the current one
 * (or a downgrade that keeps a sibling branch) would leave several heads applied, which no single
 * revision describes, so it is refused before anything runs.
 */
export function singleHead(migrations: readonly Migration[], state: MigrationState, plan: MigrationPlan, direction: MigrationDirection): MigrationPlan {
  const moved = new Set(plan.migrations.map((migration) => migration.id));
  const after = direction === 'upgrade' ? new Set([...state.applied, ...moved]) : new Set([...state.applied].filter((id) => !moved.has(id)));
  const heads = headsOf(migrations, after);
  if (heads.length > 1) {
    throw new UsageError(`${direction} to ${plan.to ?? 'base'} would leave several heads applied (${heads.join(', ')}): orchestrate moves the database to one revision`, {
      hint: 'choose a target that all applied branches lead to (a merge revision), or base',
    });
  }
  return plan;
}

/**
 * The target `spec` resolves to from `state`, and the migrations moving there runs in list order.
 * An upgrade target behind the current revision, or a downgrade target ahead of it, is refused.
 */
export function planMigrations(migrations: readonly Migration[], state: MigrationState, spec: string, direction: MigrationDirection): MigrationPlan {
  const to = resolveTarget(migrations, state.current, spec);
  if (direction === 'upgrade') {
    if (to === null || (state.applied.has(to) && to !== state.current)) {
      throw new UsageError(`upgrade target ${to ?? 'base'} is behind the current revision ${state.current ?? 'base'}: use downgrade`);
    }
    return singleHead(migrations, state, { to, migrations: pendingUpgrades(migrations, state, to) }, direction);
  }
  if (state.current === null) throw new UsageError('the database is at base: there is nothing to downgrade');
  if (to !== null && !state.applied.has(to)) throw new UsageError(`downgrade target ${to} is ahead of the current revision ${state.current}: use upgrade`);
  return { to, migrations: pendingDowngrades(migrations, state, to) };
}
