import type pg from 'pg';
import { notExtensionMember, qualifiedName, userSchemaCondition } from '../db/userSchemas.js';

/**
 * Reads the user-visible schema from the catalogs as (key, canonical description) pairs.
 *
 * What is deliberately left out, so that a pg_dump/pg_restore round trip or a correct downgrade
 * reads the same: OIDs, owners, ACLs, relfilenodes, tablespaces, statistics, sequence current values,
 * table content, comments, and the position of columns (a downgrade that re-adds a dropped column
 * appends it; treating that as a difference would turn a correct rollback into a restore from backup).
 * Must run with search_path = pg_catalog (see QUALIFIED_NAMES) so every name in a definition is
 * schema-qualified.
 */
export type CatalogObject = readonly [key: string, description: string];

const USER_NS = userSchemaCondition('n');
const USER_REL = notExtensionMember('pg_class', 'c.oid');

type Row = Record<string, unknown>;

const str = (value: unknown): string => (value === null || value === undefined ? '' : String(value));
const join = (parts: readonly (string | false | null | undefined)[]): string => parts.filter((part): part is string => typeof part === 'string' && part !== '').join(' ');

async function rows(client: pg.Client, sql: string): Promise<Row[]> {
  return (await client.query<Row>(sql)).rows;
}

async function schemas(client: pg.Client): Promise<CatalogObject[]> {
  const result = await rows(client, `SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE ${USER_NS} AND ${notExtensionMember('pg_namespace', 'n.oid')}`);
  return result.map((row) => [`schema ${str(row.nspname)}`, 'schema']);
}

async function extensions(client: pg.Client): Promise<CatalogObject[]> {
  const result = await rows(client, `SELECT e.extname, e.extversion, n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace`);
  return result.map((row) => [`extension ${str(row.extname)}`, `version ${str(row.extversion)} in schema ${str(row.nspname)}`]);
}

const TABLE_KIND: Readonly<Record<string, string>> = { r: 'table', p: 'partitioned table', f: 'foreign table' };

async function tables(client: pg.Client): Promise<CatalogObject[]> {
  const result = await rows(
    client,
    `SELECT n.nspname, c.relname, c.relkind::text AS kind, c.relpersistence::text AS persistence, c.relrowsecurity, c.relforcerowsecurity,
            (SELECT string_agg(o, ', ' ORDER BY o) FROM unnest(c.reloptions) o) AS options,
            CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END AS partition_key,
            CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END AS partition_bound,
            (SELECT string_agg(pn.nspname || '.' || pc.relname, ', ' ORDER BY i.inhseqno)
               FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
              WHERE i.inhrelid = c.oid) AS parents
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'f') AND ${USER_NS} AND ${USER_REL}`,
  );
  return result.map((row) => {
    const bound = str(row.partition_bound);
    const description = join([
      row.persistence === 'u' && 'unlogged',
      TABLE_KIND[str(row.kind)] ?? str(row.kind),
      row.partition_key !== null && `partition by ${str(row.partition_key)}`,
      bound !== '' ? `partition of ${str(row.parents)} ${bound}` : row.parents !== null && `inherits ${str(row.parents)}`,
      row.options !== null && `with (${str(row.options)})`,
      row.relrowsecurity === true && 'row level security',
      row.relforcerowsecurity === true && 'forced',
    ]);
    return [`table ${qualifiedName(str(row.nspname), str(row.relname))}`, description];
  });
}

async function columns(client: pg.Client): Promise<CatalogObject[]> {
  const result = await rows(
    client,
    `SELECT n.nspname, c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull,
            a.attidentity::text AS identity, a.attgenerated::text AS generated, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) AS expr,
            CASE WHEN a.attcollation <> t.typcollation THEN (SELECT cn.nspname || '.' || co.collname FROM pg_catalog.pg_collation co
                 JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = a.attcollation) END AS collation
       FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
      WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'f') AND ${USER_NS} AND ${USER_REL}`,
  );
  return result.map((row) => {
    const generated = row.generated === 's';
    const description = join([
      str(row.type),
      row.collation !== null && `collate ${str(row.collation)}`,
      row.attnotnull === true && 'not null',
      row.identity === 'a' && 'generated always as identity',
      row.identity === 'd' && 'generated by default as identity',
      generated && `generated always as (${str(row.expr)}) stored`,
      !generated && row.expr !== null && `default ${str(row.expr)}`,
    ]);
    return [`column ${qualifiedName(str(row.nspname), str(row.relname))}.${str(row.attname)}`, description];
  });
}

async function constraints(client: pg.Client): Promise<CatalogObject[]> {
  const result = await rows(
    client,
    `SELECT n.nspname, c.relname, ty.typname, co.conname, pg_catalog.pg_get_constraintdef(co.oid) AS def, co.convalidated
       FROM pg_catalog.pg_constraint co
       JOIN pg_catalog.pg_namespace n ON n.oid = co.connamespace
       LEFT JOIN pg_catalog.pg_class c ON c.oid = co.conrelid
       LEFT JOIN pg_catalog.pg_type ty ON ty.oid = co.contypid
      WHERE ${USER_NS} AND (c.oid IS NULL OR ${USER_REL}) AND (ty.oid IS NULL OR ${notExtensionMember('pg_type', 'ty.oid')})`,
  );
  return result.map((row) => {
    const def = str(row.def);
    // pg_get_constraintdef already prints NOT VALID for foreign keys and checks; say it for any other kind too.
    const description = row.convalidated === false && !def.endsWith('NOT VALID') ? `${def} NOT VALID` : def;
    const owner = row.relname !== null ? `constraint ${qualifiedName(str(row.nspname), str(row.relname))}` : `domain constraint ${qualifiedName(str(row.nspname), str(row.typname))}`;
    return [`${owner}.${str(row.conname)}`, description];
  });
}

async function indexes(client: pg.Client): Promise<CatalogObject[]> {
  const result = await rows(
    client,
    `SELECT n.nspname, c.relname AS table, ic.relname AS index, pg_catalog.pg_get_indexdef(i.indexrelid) AS def, i.indisvalid
       FROM pg_catalog.pg_index i
       JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace
      WHERE ${USER_NS} AND ${USER_REL}`,
  );
  return result.map((row) => [`index ${qualifiedName(str(row.nspname), str(row.table))}.${str(row.index)}`, `${str(row.def)}${row.indisvalid === false ? ' INVALID' : ''}`]);
}

async function views(client: pg.Client): Promise<CatalogObject[]> {
  const result = await rows(
    client,
    `SELECT n.nspname, c.relname, c.relkind::text AS kind, pg_catalog.pg_get_viewdef(c.oid) AS def,
            (SELECT string_agg(o, ', ' ORDER BY o) FROM unnest(c.reloptions) o) AS options
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('v', 'm') AND ${USER_NS} AND ${USER_REL}`,
  );
  return result.map((row) => [
    `${row.kind === 'm' ? 'materialized view' : 'view'} ${qualifiedName(str(row.nspname), str(row.relname))}`,
    join([row.options !== null && `with (${str(row.options)})`, str(row.def).trim()]),
  ]);
}

const ROUTINE_KIND: Readonly<Record<string, string>> = { f: 'function', p: 'procedure', a: 'aggregate', w: 'window function' };
const VOLATILITY: Readonly<Record<string, string>> = { i: 'immutable', s: 'stable', v: 'volatile' };
const PARALLEL: Readonly<Record<string, string>> = { s: 'parallel safe', r: 'parallel restricted', u: 'parallel unsafe' };

async function routines(client: pg.Client, serverVersion: number): Promise<CatalogObject[]> {
  // SQL-standard bodies (BEGIN ATOMIC, PostgreSQL 14+) leave prosrc empty: use their deparsed form.
  const body = serverVersion >= 140000 ? `coalesce(pg_catalog.pg_get_function_sqlbody(p.oid), p.prosrc)` : 'p.prosrc';
  const result = await rows(
    client,
    `SELECT n.nspname, p.proname, p.prokind::text AS kind, pg_catalog.pg_get_function_identity_arguments(p.oid) AS args,
            pg_catalog.pg_get_function_result(p.oid) AS result, l.lanname, p.provolatile::text AS volatility, p.proisstrict,
            p.prosecdef, p.proleakproof, p.proparallel::text AS parallel, array_to_string(p.proconfig, ', ') AS config,
            ${body} AS body, p.probin AS library,
            (SELECT concat_ws(' ', 'sfunc ' || a.aggtransfn::regproc::text, 'stype ' || pg_catalog.format_type(a.aggtranstype, NULL),
                    CASE WHEN a.aggfinalfn <> 0 THEN 'finalfunc ' || a.aggfinalfn::regproc::text END, 'initcond ' || a.agginitval)
               FROM pg_catalog.pg_aggregate a WHERE a.aggfnoid = p.oid) AS aggregate
       FROM pg_catalog.pg_proc p
       JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
       JOIN pg_catalog.pg_language l ON l.oid = p.prolang
      WHERE ${USER_NS} AND ${notExtensionMember('pg_proc', 'p.oid')}`,
  );
  return result.map((row) => {
    const kind = ROUTINE_KIND[str(row.kind)] ?? 'function';
    const description = join([
      row.result !== null && `returns ${str(row.result)}`,
      `language ${str(row.lanname)}`,
      kind !== 'procedure' && VOLATILITY[str(row.volatility)],
      row.proisstrict === true && 'strict',
      row.prosecdef === true && 'security definer',
      row.proleakproof === true && 'leakproof',
      kind !== 'procedure' && PARALLEL[str(row.parallel)],
      row.config !== null && `set ${str(row.config)}`,
      row.aggregate !== null && str(row.aggregate),
      row.library !== null && `library ${str(row.library)}`,
    ]);
    // The body whole, on its own lines: a difference in it is shown as a diff of the two bodies.
    return [`${kind} ${qualifiedName(str(row.nspname), str(row.proname))}(${str(row.args)})`, `${description}\nbody:\n${str(row.body)}`];
  });
}

async function sequences(client: pg.Client): Promise<CatalogObject[]> {
  const result = await rows(
    client,
    `SELECT n.nspname, c.relname, pg_catalog.format_type(s.seqtypid, NULL) AS type, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
            (SELECT tn.nspname || '.' || tc.relname || '.' || a.attname
               FROM pg_catalog.pg_depend d
               JOIN pg_catalog.pg_class tc ON tc.oid = d.refobjid
               JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
               JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
              WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
                AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i')
              LIMIT 1) AS owned_by
       FROM pg_catalog.pg_sequence s
       JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE ${USER_NS} AND ${USER_REL}`,
  );
  return result.map((row) => [
    `sequence ${qualifiedName(str(row.nspname), str(row.relname))}`,
    join([
      str(row.type),
      `start ${str(row.seqstart)}`,
      `increment ${str(row.seqincrement)}`,
      `min ${str(row.seqmin)}`,
      `max ${str(row.seqmax)}`,
      `cache ${str(row.seqcache)}`,
      row.seqcycle === true ? 'cycle' : 'no cycle',
      row.owned_by !== null && `owned by ${str(row.owned_by)}`,
    ]),
  ]);
}

const TRIGGER_STATE: Readonly<Record<string, string>> = { O: 'enabled', D: 'disabled', R: 'enabled replica', A: 'enabled always' };

async function triggers(client: pg.Client): Promise<CatalogObject[]> {
  const result = await rows(
    client,
    `SELECT n.nspname, c.relname, t.tgname, pg_catalog.pg_get_triggerdef(t.oid) AS def, t.tgenabled::text AS enabled
       FROM pg_catalog.pg_trigger t
       JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE NOT t.tgisinternal AND ${USER_NS} AND ${USER_REL}`,
  );
  return result.map((row) => [`trigger ${qualifiedName(str(row.nspname), str(row.relname))}.${str(row.tgname)}`, `${str(row.def)} (${TRIGGER_STATE[str(row.enabled)] ?? str(row.enabled)})`]);
}

async function types(client: pg.Client): Promise<CatalogObject[]> {
  const result = await rows(
    client,
    `SELECT n.nspname, t.typname, t.typtype::text AS kind,
            CASE t.typtype
              WHEN 'e' THEN (SELECT string_agg(pg_catalog.quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid)
              WHEN 'd' THEN concat_ws(' ', pg_catalog.format_type(t.typbasetype, t.typtypmod), CASE WHEN t.typnotnull THEN 'not null' END,
                                       'default ' || pg_catalog.pg_get_expr(t.typdefaultbin, 0))
              WHEN 'c' THEN (SELECT string_agg(pg_catalog.quote_ident(a.attname) || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
                               FROM pg_catalog.pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)
              WHEN 'r' THEN (SELECT pg_catalog.format_type(r.rngsubtype, NULL) FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid)
            END AS detail
       FROM pg_catalog.pg_type t
       JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
      WHERE (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c'))
        AND ${USER_NS} AND ${notExtensionMember('pg_type', 't.oid')}`,
  );
  const kinds: Readonly<Record<string, string>> = { e: 'enum', d: 'domain over', c: 'composite', r: 'range over' };
  return result.map((row) => {
    const detail = str(row.detail);
    const kind = kinds[str(row.kind)] ?? str(row.kind);
    return [`type ${qualifiedName(str(row.nspname), str(row.typname))}`, row.kind === 'e' || row.kind === 'c' ? `${kind} (${detail})` : `${kind} ${detail}`];
  });
}

const POLICY_COMMAND: Readonly<Record<string, string>> = { r: 'select', a: 'insert', w: 'update', d: 'delete', '*': 'all' };

async function policies(client: pg.Client): Promise<CatalogObject[]> {
  const result = await rows(
    client,
    `SELECT n.nspname, c.relname, p.polname, p.polcmd::text AS command, p.polpermissive,
            (SELECT string_agg(r.name, ', ' ORDER BY r.name)
               FROM (SELECT CASE WHEN role = 0 THEN 'public' ELSE pg_catalog.pg_get_userbyid(role)::text END AS name FROM unnest(p.polroles) role) r) AS roles,
            pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS qual, pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS with_check
       FROM pg_catalog.pg_policy p
       JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE ${USER_NS} AND ${USER_REL}`,
  );
  return result.map((row) => [
    `policy ${qualifiedName(str(row.nspname), str(row.relname))}.${str(row.polname)}`,
    join([
      row.polpermissive === true ? 'permissive' : 'restrictive',
      `for ${POLICY_COMMAND[str(row.command)] ?? str(row.command)}`,
      `to ${str(row.roles)}`,
      row.qual !== null && `using (${str(row.qual)})`,
      row.with_check !== null && `with check (${str(row.with_check)})`,
    ]),
  ]);
}

async function rules(client: pg.Client): Promise<CatalogObject[]> {
  const result = await rows(
    client,
    `SELECT n.nspname, c.relname, r.rulename, pg_catalog.pg_get_ruledef(r.oid) AS def, r.ev_enabled::text AS enabled
       FROM pg_catalog.pg_rewrite r
       JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE r.rulename <> '_RETURN' AND ${USER_NS} AND ${USER_REL}`,
  );
  return result.map((row) => [`rule ${qualifiedName(str(row.nspname), str(row.relname))}.${str(row.rulename)}`, `${str(row.def)} (${TRIGGER_STATE[str(row.enabled)] ?? str(row.enabled)})`]);
}

/** Every kind of object, in the order a difference is most useful to read (see diffFingerprints). */
export const OBJECT_KINDS = [
  'schema',
  'extension',
  'table',
  'column',
  'constraint',
  'index',
  'type',
  'domain constraint',
  'view',
  'materialized view',
  'sequence',
  'function',
  'procedure',
  'aggregate',
  'window function',
  'trigger',
  'policy',
  'rule',
] as const;

/** Kinds whose key is "<kind> schema.table.name": they go away with their table. */
export const TABLE_MEMBER_KINDS: ReadonlySet<string> = new Set(['column', 'constraint', 'index', 'trigger', 'policy', 'rule']);

/** All objects, read query by query on one client (the caller provides the snapshot and search_path). */
export async function readCatalogObjects(client: pg.Client): Promise<CatalogObject[]> {
  const version = Number((await client.query<{ v: string }>(`SELECT pg_catalog.current_setting('server_version_num') AS v`)).rows[0]?.v ?? 0);
  const readers = [schemas, extensions, tables, columns, constraints, indexes, views, sequences, triggers, types, policies, rules];
  const objects: CatalogObject[] = [];
  // Sequential on purpose: one client runs one query at a time, and they share its transaction.
  for (const read of readers) objects.push(...(await read(client)));
  objects.push(...(await routines(client, version)));
  return objects;
}
