import { createInterface } from 'node:readline/promises';

/** True when a person can answer a question: both stdin and stderr are terminals. */
export function canPrompt(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

/** Asks a yes/no question on the terminal; only an explicit "yes" counts. */
export async function confirm(question: string, signal?: AbortSignal): Promise<boolean> {
  const readline = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await readline.question(`${question} Type "yes" to continue: `, signal ? { signal } : {});
    return answer.trim().toLowerCase() === 'yes';
  } finally {
    readline.close();
  }
}
