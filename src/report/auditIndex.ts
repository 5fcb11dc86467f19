import { closeSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { auditPath, auditSegments, parseAuditLine, type AuditEntry } from './audit.js';

/** Bytes read per read(2): bounds the memory one refresh needs, however much the ledger grew. */
const CHUNK_BYTES = 1 << 20;

/**
 * How long a rotated segment is still watched for a line written through a descriptor opened before
 * the rename (an appender descheduled between its open and its write), and how many are watched at most.
 */
const FOLLOW_MS = 60_000;
const FOLLOW_MAX = 64;

/** How the latest run of one command ended, for /metrics. */
export interface LatestRun {
  readonly exitCode: number;
  readonly durationMs: number;
  readonly finishedAt: string;
}

interface TrackedFile {
  readonly path: string;
  readonly dev: number;
  readonly ino: number;
  /** Bytes consumed: always just after a newline, so a line being written is read whole next time. */
  offset: number;
}

/**
 * What the daemon's endpoints need from the audit ledger, kept in memory and brought up to date
 * incrementally: each refresh reads only the bytes appended since the previous one. Memory is
 * bounded whatever the ledger's size: counters per (command, outcome), the latest run per command,
 * and the newest `keepRecent` entries.
 *
 * Rotation (rotateAudit) renames audit.jsonl to a segment; appenders then start a new audit.jsonl.
 * The index follows the file it was reading by inode: when audit.jsonl is a different file, it
 * finishes the old one under its segment name, keeps watching that segment for a while for a line a
 * slow appender opened before the rename, and starts the new file from its first byte.
 */
export class AuditIndex {
  readonly #reportDir: string;
  readonly #keepRecent: number;
  readonly #counts = new Map<string, { command: string; outcome: string; count: number }>();
  readonly #latest = new Map<string, LatestRun>();
  #recent: AuditEntry[] = [];
  #current: TrackedFile | undefined;
  /** Segments recently rotated away from under us, with when we moved past them. */
  #following: { file: TrackedFile; since: number }[] = [];
  /** The newest segment read, by name. */
  #newestSegment: string | undefined;
  #started = false;
  /** Lines consumed so far, and the first line number `recent` keeps (see refresh). */
  #lines = 0;
  #keepFrom = 0;

  constructor(reportDir: string, keepRecent: number) {
    this.#reportDir = reportDir;
    this.#keepRecent = keepRecent;
  }

  /** Reads what was appended since the last call; the first call reads the whole ledger once. */
  refresh(): void {
    const now = Date.now();
    if (!this.#started) {
      this.#started = true;
      const segments = auditSegments(this.#reportDir);
      // The first read goes through the whole ledger, but only its last lines are kept as entries:
      // keeping every parsed line for a while would promote them all to the old generation, garbage the
      // collector would then have to mark and compact while the daemon serves requests.
      // Counting newlines first costs a read of the files, no allocation per line.
      const total = [...segments, auditPath(this.#reportDir)].reduce((sum, file) => sum + countNewlines(file), 0);
      this.#keepFrom = total - 2 * this.#keepRecent;
      this.#readNewSegments(segments, now);
    }
    for (const { file } of this.#following) this.#follow(file);
    // Read once more after the window, then let go: at most FOLLOW_MAX stats per refresh.
    this.#following = this.#following.filter(({ since }) => now - since < FOLLOW_MS).slice(-FOLLOW_MAX);
    const file = auditPath(this.#reportDir);
    const stat = statSync(file, { throwIfNoEntry: false });
    const rotated = this.#current !== undefined && (!stat || !sameFile(this.#current, stat));
    // Not reading any file (none was there) is a time a file may have come and been rotated unseen.
    if (rotated || this.#current === undefined) this.#readNewSegments(auditSegments(this.#reportDir), now);
    if (rotated) this.#current = undefined;
    if (!stat) return;
    this.#current ??= track(file, stat);
    if (stat.size < this.#current.offset) {
      // The ledger is append-only; a shorter file was edited by hand. Start it over rather than guess.
      this.#current.offset = 0;
    }
    this.#consume(this.#current, stat.size);
  }

  /**
   * Segments newer (by name, which is by age) than the newest one read so far: the file we were reading,
   * renamed (read on from where we were), and any rotated before we ever saw them (read whole).
   */
  #readNewSegments(segments: readonly string[], now: number): void {
    for (const segment of segments) {
      if (this.#newestSegment !== undefined && segment <= this.#newestSegment) continue;
      const stat = statSync(segment, { throwIfNoEntry: false });
      if (!stat) continue;
      const tracked = this.#current && sameFile(this.#current, stat) ? { ...this.#current, path: segment } : track(segment, stat);
      this.#consume(tracked, stat.size);
      this.#following.push({ file: tracked, since: now });
      this.#newestSegment = segment;
    }
  }

  /** Runs per (command, outcome), over the whole ledger. */
  counts(): readonly { readonly command: string; readonly outcome: string; readonly count: number }[] {
    return [...this.#counts.values()];
  }

  /** The latest run of each command. */
  latest(): ReadonlyMap<string, LatestRun> {
    return this.#latest;
  }

  /** The newest entries, newest first, at most `limit` (and at most `keepRecent`). */
  recent(limit: number): readonly AuditEntry[] {
    return this.#recent.slice(-limit).reverse();
  }

  #follow(file: TrackedFile): void {
    const stat = statSync(file.path, { throwIfNoEntry: false });
    if (stat && sameFile(file, stat)) this.#consume(file, stat.size);
  }

  #consume(file: TrackedFile, size: number): void {
    if (size <= file.offset) return;
    const fd = openSync(file.path, 'r');
    try {
      const buffer = Buffer.alloc(Math.min(CHUNK_BYTES, size - file.offset));
      let carried = Buffer.alloc(0);
      let position = file.offset;
      while (position < size) {
        const read = readSync(fd, buffer, 0, Math.min(buffer.length, size - position), position);
        if (read === 0) break;
        position += read;
        const data = carried.length > 0 ? Buffer.concat([carried, buffer.subarray(0, read)]) : buffer.subarray(0, read);
        let start = 0;
        for (let newline = data.indexOf(10, start); newline !== -1; newline = data.indexOf(10, start)) {
          this.#add(data.toString('utf8', start, newline));
          start = newline + 1;
        }
        file.offset += start;
        // A partial line (an append in progress, or one longer than a chunk) waits for the rest.
        carried = Buffer.from(data.subarray(start));
      }
    } finally {
      closeSync(fd);
    }
  }

  #add(line: string): void {
    this.#lines += 1;
    const entry = parseAuditLine(line);
    if (!entry) return;
    const key = `${entry.command}\u0000${entry.outcome}`;
    const counted = this.#counts.get(key);
    if (counted) counted.count += 1;
    else this.#counts.set(key, { command: entry.command, outcome: entry.outcome, count: 1 });
    this.#latest.set(entry.command, { exitCode: entry.exitCode, durationMs: entry.durationMs, finishedAt: entry.finishedAt });
    if (this.#lines <= this.#keepFrom) return;
    this.#recent.push(entry);
    // Trimmed in batches: one splice per `keepRecent` lines instead of a shift per line.
    if (this.#recent.length >= this.#keepRecent * 2) this.#recent = this.#recent.slice(-this.#keepRecent);
  }
}

function countNewlines(file: string): number {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return 0;
  }
  try {
    const buffer = Buffer.alloc(CHUNK_BYTES);
    let count = 0;
    for (let read = readSync(fd, buffer); read > 0; read = readSync(fd, buffer)) {
      for (let at = buffer.indexOf(10); at !== -1 && at < read; at = buffer.indexOf(10, at + 1)) count += 1;
    }
    return count;
  } finally {
    closeSync(fd);
  }
}

function track(path: string, stat: Stats): TrackedFile {
  return { path, dev: stat.dev, ino: stat.ino, offset: 0 };
}

function sameFile(file: TrackedFile, stat: Stats): boolean {
  return file.dev === stat.dev && file.ino === stat.ino;
}
