/**
 * The one redaction helper. Every log line, error message, report and manifest passes through it.
 *
 * Two layers: patterns that catch a password wherever a connection string is spelt out (URI userinfo,
 * `?password=` / `&password=` query parameters, `password=` in keyword/value conninfo), and the literal
 * values of every password this process has been given, so that a driver that echoes one in an
 * error message is caught too.
 */
const MASK = '*****';
const knownSecrets = new Set<string>();

/** Remember a secret so that it is masked wherever it appears later. Short values are ignored: masking "a" would mangle every line. */
export function registerSecret(secret: string | undefined | null): void {
  if (secret && secret.length >= 4) {
    knownSecrets.add(secret);
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) knownSecrets.add(encoded);
  }
}

// Both patterns run in linear time, because redaction sits on every log line and a tool may print
// one line of megabytes. A scheme is a whole run of scheme characters (without the
// lookbehind, every letter of a long word would start a scan to the word's end: quadratic). A quoted
// value without its closing quote is masked to the end of the text instead of being rescanned.
const URI_PASSWORD = /((?<![a-z0-9+.-])[a-z0-9+.-]+:\/\/[^\s:/@?#]*:)([^\s@/?#]*)@/gi;
const PARAM_PASSWORD = /([?&;\s]|^)(password|pgpassword|sslpassword)=("[^"]*"?|'[^']*'?|[^\s&;'"]*)/gi;
const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

export function redact(text: string): string {
  let out = text.replace(URI_PASSWORD, `$1${MASK}@`).replace(PARAM_PASSWORD, `$1$2=${MASK}`);
  for (const secret of knownSecrets) {
    if (out.includes(secret)) out = out.split(secret).join(MASK);
  }
  return out;
}

/**
 * A URL that could not be parsed, safe to print: everything between the scheme and the last `@` is
 * masked, because a password holding `/`, `#`, `?` or `@` is exactly what makes such a URL unparsable,
 * and the patterns above would cut it at the wrong character.
 */
export function redactUnparsableUrl(url: string): string {
  const at = url.lastIndexOf('@');
  if (at < 0) return redact(url);
  const scheme = SCHEME.exec(url)?.[0] ?? '';
  return redact(`${scheme}${MASK}${url.slice(at)}`);
}

/** Deep-redacts every string inside a JSON-like value (reports, manifests, structured log fields). */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((item) => redactDeep(item)) as T;
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      out[key] = /pass(word)?$/i.test(key) && typeof inner === 'string' ? MASK : redactDeep(inner);
    }
    return out as T;
  }
  return value;
}
