import { resolve } from 'node:path';
import { DEFAULT_STORE_DIR } from '../checkpointer/index.js';
import { Store } from '../store/index.js';

/** What every command needs: where the store is, how to print. */
export interface CommandContext {
  storeDir: string;
  json: boolean;
  out: (text: string) => void;
  err: (text: string) => void;
}

/** `--store DIR`, else `$CKPT_STORE`, else `./.ckpt`. */
export function resolveStoreDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag ?? env.CKPT_STORE ?? DEFAULT_STORE_DIR);
}

export function openExistingStore(ctx: CommandContext): Promise<Store> {
  return Store.open(ctx.storeDir);
}

export function printJson(ctx: CommandContext, value: unknown): void {
  ctx.out(JSON.stringify(value, null, 2));
}
