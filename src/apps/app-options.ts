/** What every adapter may need from `ckpt run`'s options. */
export interface AppContext {
  /** The command as the user gave it. */
  command: readonly string[];
  /** The program's working directory. */
  cwd: string;
  /** `--every`, in ms: the checkpoint interval the app should use, if any. */
  everyMs: number | undefined;
}

/** The value of `-flag VALUE` in an argv, if present. */
export function argValue(argv: readonly string[], ...flags: string[]): string | undefined {
  for (let i = 0; i < argv.length - 1; i++) if (flags.includes(argv[i]!)) return argv[i + 1];
  return undefined;
}

/** argv without `-flag VALUE` pairs for the given flags. */
export function withoutArg(argv: readonly string[], ...flags: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (flags.includes(argv[i]!)) i++;
    else out.push(argv[i]!);
  }
  return out;
}

/** The last `n` bytes of a text file, or '' if it cannot be read. */
export async function tailOf(path: string, n = 64 * 1024): Promise<string> {
  const { open } = await import('node:fs/promises');
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      const start = Math.max(0, size - n);
      const buffer = Buffer.alloc(size - start);
      await handle.read(buffer, 0, buffer.length, start);
      return buffer.toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}
