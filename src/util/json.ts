import type { z } from 'zod';

/** `text` as JSON of `schema`'s shape, or undefined when it is not JSON or not that shape: a record read whole or not at all. */
export function parseJsonAs<S extends z.ZodType>(schema: S, text: string): z.infer<S> | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}
