/** The human rendering of a JSON log line: `12:00:01 WARN  message  key=value ...`. */
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'runId', 'command', 'stderr', 'stdout']);
const LEVELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };

export function renderConsoleLine(line: string): string {
  let event: Record<string, unknown>;
  try {
    event = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof event.time === 'string' ? event.time.slice(11, 19) : '';
  const level = LEVELS[Number(event.level)] ?? 'INFO ';
  const fields = Object.entries(event)
    .filter(([key, value]) => !HIDDEN.has(key) && value !== undefined && value !== null && typeof value !== 'object')
    .map(([key, value]) => `${key}=${String(value)}`)
    .join(' ');
  return `${time} ${level} ${String(event.msg ?? '')}${fields ? `  ${fields}` : ''}\n`;
}
