/**
 * Whether ALTER COLUMN ... TYPE keeps every value. Widening changes (int -> bigint, varchar(10) ->
 * varchar(20) or text, numeric(8,2) -> numeric(12,2), timestamp -> timestamptz) are not destructive;
 * every other change may truncate, round or fail to convert values, and is reported with its row count.
 */

export interface ColumnType {
  /** The server's canonical name (`character varying`, `integer`, `numeric`, `text[]`). */
  readonly name: string;
  /** Type modifiers as written (`varchar(10)` -> [10], `numeric(8,2)` -> [8, 2]); empty: unconstrained. */
  readonly modifiers: readonly number[];
}

const INTEGER_RANK: Readonly<Record<string, number>> = { smallint: 1, integer: 2, bigint: 3 };
const FLOAT_RANK: Readonly<Record<string, number>> = { real: 1, 'double precision': 2 };
const STRINGS = new Set(['character varying', 'character', 'text']);
/** Types whose modifier is a precision or length where "larger or none" keeps every value. */
const BOUNDED = new Set([
  'character varying',
  'bit varying',
  'timestamp without time zone',
  'timestamp with time zone',
  'time without time zone',
  'time with time zone',
  'interval',
]);

/** Decodes pg_attribute.atttypmod into the modifiers as they are written in SQL. */
export function modifiersFromTypmod(name: string, typmod: number): number[] {
  if (typmod < 0) return [];
  const base = name.replace(/\[\]$/, '');
  if (base === 'character varying' || base === 'character') return [typmod - 4];
  if (base === 'numeric') {
    const packed = typmod - 4;
    // The scale is an 11-bit signed field since PostgreSQL 15.
    const scale = ((packed & 0x7ff) ^ 1024) - 1024;
    return [(packed >> 16) & 0xffff, scale];
  }
  return [typmod];
}

function noSmaller(from: readonly number[], to: readonly number[]): boolean {
  if (to.length === 0) return true;
  if (from.length === 0) return false;
  return (to[0] ?? 0) >= (from[0] ?? 0);
}

function numericKeeps(from: readonly number[], to: readonly number[]): boolean {
  if (to.length === 0) return true;
  if (from.length === 0) return false;
  const [fromPrecision = 0, fromScale = 0] = from;
  const [toPrecision = 0, toScale = 0] = to;
  return toScale >= fromScale && toPrecision - toScale >= fromPrecision - fromScale;
}

export function isWidening(from: ColumnType, to: ColumnType): boolean {
  const fromArray = from.name.endsWith('[]');
  if (fromArray !== to.name.endsWith('[]')) return false;
  const fromBase = from.name.replace(/\[\]$/, '');
  const toBase = to.name.replace(/\[\]$/, '');
  if (fromBase === toBase) {
    if (fromBase === 'numeric') return numericKeeps(from.modifiers, to.modifiers);
    if (fromBase === 'character') return to.modifiers.length > 0 && noSmaller(from.modifiers, to.modifiers);
    if (BOUNDED.has(fromBase)) return noSmaller(from.modifiers, to.modifiers);
    return from.modifiers.join(',') === to.modifiers.join(',');
  }
  const fromInteger = INTEGER_RANK[fromBase];
  const toInteger = INTEGER_RANK[toBase];
  if (fromInteger !== undefined && toInteger !== undefined) return toInteger >= fromInteger;
  if (fromInteger !== undefined && toBase === 'numeric') return to.modifiers.length === 0;
  const fromFloat = FLOAT_RANK[fromBase];
  const toFloat = FLOAT_RANK[toBase];
  if (fromFloat !== undefined && toFloat !== undefined) return toFloat >= fromFloat;
  // char(n) -> varchar/text drops trailing blanks, which PostgreSQL already ignores when comparing char(n).
  if (STRINGS.has(fromBase) && toBase === 'text') return true;
  if (STRINGS.has(fromBase) && toBase === 'character varying') return noSmaller(fromBase === 'text' ? [] : from.modifiers, to.modifiers);
  if (fromBase === 'timestamp without time zone' && toBase === 'timestamp with time zone') return noSmaller(from.modifiers, to.modifiers);
  return false;
}

export function displayType(type: ColumnType): string {
  if (type.modifiers.length === 0) return type.name;
  const array = type.name.endsWith('[]');
  return `${type.name.replace(/\[\]$/, '')}(${type.modifiers.join(',')})${array ? '[]' : ''}`;
}
