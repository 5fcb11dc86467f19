/**
 * SQL fragments that restrict catalog queries to the application's own objects: system schemas,
 * TOAST and temporary schemas are the server's, and objects created by an extension belong to the
 * extension (they are described by the extension's name and version instead).
 */

/** Condition on a pg_namespace alias: a user schema. */
export function userSchemaCondition(alias: string): string {
  return `(${alias}.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND ${alias}.nspname NOT LIKE 'pg\\_temp\\_%' AND ${alias}.nspname NOT LIKE 'pg\\_toast\\_temp\\_%')`;
}

/** Condition: the object `oidExpr` of catalog `catalog` (e.g. 'pg_class') is not a member of an extension. */
export function notExtensionMember(catalog: string, oidExpr: string): string {
  return `NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.${catalog}'::pg_catalog.regclass AND d.objid = ${oidExpr} AND d.deptype = 'e')`;
}

/** The "schema.name" form every result of this library is keyed by (unquoted: for people and reports, not SQL). */
export function qualifiedName(schema: string, name: string): string {
  return `${schema}.${name}`;
}
