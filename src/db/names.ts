/** PostgreSQL's identifier limit: a longer name is silently truncated, and then names the wrong database. */
export const MAX_IDENTIFIER_BYTES = 63;

/** `<base><suffix>`, with `base` shortened (never the suffix) to fit the identifier limit in bytes. */
export function boundedName(base: string, suffix: string): string {
  let head = base;
  while (Buffer.byteLength(head) + Buffer.byteLength(suffix) > MAX_IDENTIFIER_BYTES) head = head.slice(0, -1);
  return `${head}${suffix}`;
}
