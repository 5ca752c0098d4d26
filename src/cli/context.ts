import { resolve } from 'node:path';
import { DEFAULT_STORE_DIR } from '../checkpointer/index.js';
import { Store } from '../store/index.js';

/** What every command needs: where the store is, how to print. */
export interface CommandContext {
  storeDir: string;
  /** Whether the store was named (`--store` or `$CKPT_STORE`), not the default `./.ckpt`. */
  storeNamed?: boolean;
  json: boolean;
  out: (text: string) => void;
  err: (text: string) => void;
  /** Stores the command opened: their warnings are printed when it ends. */
  opened?: Store[];
}

/** `--store DIR`, else `$CKPT_STORE`, else `./.ckpt`. */
export function resolveStoreDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag ?? env.CKPT_STORE ?? DEFAULT_STORE_DIR);
}

/** Opens the store the command names; its warnings are printed on stderr when the command ends. */
export async function openExistingStore(ctx: CommandContext): Promise<Store> {
  return registerStore(ctx, await Store.open(ctx.storeDir));
}

/** Lets the CLI print `store`'s warnings when the command ends. */
export function registerStore(ctx: CommandContext, store: Store): Store {
  ctx.opened?.push(store);
  return store;
}

/** Prints a command's `--json` answer: one indented JSON document on stdout. */
export function printJson(ctx: CommandContext, value: unknown): void {
  ctx.out(JSON.stringify(value, null, 2));
}
