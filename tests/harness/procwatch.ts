import { readdirSync, readFileSync } from 'node:fs';

/**
 * Samples every process's command line (/proc/PID/cmdline) until stopped, the way another user
 * on the machine could: returns the command lines that contained `needle`, and all that were seen.
 */
export function watchCommandLines(needle: string, intervalMs = 2): { stop: () => { leaked: string[]; seen: Set<string> } } {
  const leaked: string[] = [];
  const seen = new Set<string>();
  const sample = () => {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
        if (!cmdline) continue;
        seen.add(cmdline);
        if (cmdline.includes(needle)) leaked.push(cmdline);
      } catch {
        // The process ended between listing and reading.
      }
    }
  };
  const timer = setInterval(sample, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return { leaked, seen };
    },
  };
}

/**
 * Processes (of users whose /proc/PID/environ we may read) with `needle` in their environment, as
 * "pid cmdline". A tool inherits the environment it was given, and passes it to its own children.
 */
export function processesWithEnvironment(needle: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${pid}/environ`, 'utf8').includes(needle)) continue;
      // A zombie has an empty command line: it holds no resources and its parent is gone.
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      if (cmdline) found.push(`${pid} ${cmdline}`);
    } catch {
      // Ended meanwhile, or another user's process.
    }
  }
  return found;
}
