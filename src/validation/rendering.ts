/**
 * PostgreSQL prints some stored expressions differently once they went through pg_dump and
 * pg_restore, although they mean the same. The one that matters in practice: `s IN ('a', 'b')` on a
 * varchar column is stored as an array coercion and printed
 *   (ARRAY['a'::character varying, 'b'::character varying])::text[]
 * pg_dump writes that text, and parsing it again pushes the cast into the ARRAY constructor:
 *   ARRAY[('a'::character varying)::text, ('b'::character varying)::text]
 * CHECK constraints, partial-index predicates, defaults and policies with an IN list all do this.
 *
 * canonicalRendering rewrites the first form into the second, which is exactly what the parser does,
 * so two descriptions that are equal after it are equal in meaning. It never makes different
 * expressions equal: it only moves a cast that applies to every element onto each element.
 */

const OPENING = '(ARRAY[';

/** Index just past the string literal or quoted name starting at `at` ('' and "" inside are escaped quotes). */
function skipQuoted(text: string, at: number): number {
  const quote = text[at];
  let i = at + 1;
  while (i < text.length) {
    if (text[i] === quote) {
      if (text[i + 1] !== quote) return i + 1;
      i += 2;
      continue;
    }
    i += 1;
  }
  return text.length;
}

/** Index just past the bracket closing the one at `open` ('[' or '('), skipping literals and quoted names; -1 if none. */
function closingIndex(text: string, open: number): number {
  let depth = 0;
  let i = open;
  while (i < text.length) {
    const char = text[i];
    if (char === "'" || char === '"') {
      i = skipQuoted(text, i);
      continue;
    }
    if (char === '[' || char === '(') depth += 1;
    if (char === ']' || char === ')') {
      depth -= 1;
      if (depth === 0) return i + 1;
    }
    i += 1;
  }
  return -1;
}

/** The elements of an ARRAY[...] body, split at top-level commas; undefined when the brackets do not balance. */
function splitElements(body: string): string[] | undefined {
  const elements: string[] = [];
  let start = 0;
  let i = 0;
  while (i < body.length) {
    const char = body[i];
    if (char === "'" || char === '"') {
      i = skipQuoted(body, i);
    } else if (char === '(' || char === '[') {
      i = closingIndex(body, i);
      if (i < 0) return undefined;
    } else {
      if (char === ',') {
        elements.push(body.slice(start, i).trim());
        start = i + 1;
      }
      i += 1;
    }
  }
  elements.push(body.slice(start).trim());
  return elements;
}

/** `::type[]` at `from` (a type name of letters, digits, _, spaces, dots, quotes and a typmod): the element type and the end index. */
function arrayCastAt(text: string, from: number): { type: string; end: number } | undefined {
  const match = /^::((?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)(?:\.(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*))?(?: [a-z]+)*(?:\(\d+(?:,\s*\d+)?\))?(?: with(?:out)? time zone)?)\[\]/.exec(text.slice(from));
  return match?.[1] ? { type: match[1], end: from + match[0].length } : undefined;
}

export function canonicalRendering(text: string): string {
  if (!text.includes(OPENING)) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const at = text.indexOf(OPENING, i);
    if (at < 0) break;
    const bracket = at + OPENING.length - 1;
    const bracketEnd = closingIndex(text, bracket);
    const cast = bracketEnd > 0 && text[bracketEnd] === ')' ? arrayCastAt(text, bracketEnd + 1) : undefined;
    const elements = cast ? splitElements(text.slice(bracket + 1, bracketEnd - 1)) : undefined;
    if (!cast || !elements) {
      out += text.slice(i, at + 1);
      i = at + 1;
      continue;
    }
    const castEach = elements.map((element) => `(${canonicalRendering(element)})::${cast.type}`);
    out += `${text.slice(i, at)}ARRAY[${castEach.join(', ')}]`;
    i = cast.end;
  }
  return out + text.slice(i);
}

/** Equal descriptions, or equal once both are in canonical rendering. */
export function equivalentDescriptions(a: string, b: string): boolean {
  return a === b || canonicalRendering(a) === canonicalRendering(b);
}
