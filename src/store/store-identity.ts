import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { errnoCode, FormatError, NoStoreError, wrapIoError } from '../errors.js';
import { DIR_MODE, fsyncDir, writeFileAtomic } from './atomic-write.js';
import {
  CHUNKS_DIR,
  MANIFESTS_DIR,
  MAX_SMALL_FILE_BYTES,
  STORE_FORMAT_VERSION,
  STORE_ID_FILE,
} from './layout.js';
import { readStoreFile } from './safe-fs.js';

/**
 * The format version of the store at `root`, read from its identity file; with `create`, a
 * missing store is created (directory, `chunks/`, `manifests/`, identity file) and has the
 * current version. Throws {@link NoStoreError} when there is none and `create` is not set,
 * {@link FormatError} for an identity file that is not a ckpt store's or is of a newer format.
 */
export async function readStoreVersion(root: string, create: boolean): Promise<number> {
  const idPath = join(root, STORE_ID_FILE);
  let id: string | undefined;
  try {
    id = (await readStoreFile(idPath, 'store identity file', MAX_SMALL_FILE_BYTES)).toString('utf8');
  } catch (error) {
    const code = errnoCode(error);
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw wrapIoError(error, 'opening store', root);
  }
  if (id !== undefined) return checkStoreId(id, idPath);
  if (!create) throw await missingStore(root);
  await createSkeleton(root);
  return STORE_FORMAT_VERSION;
}

/** Rewrites the identity file of the store at `root` with the current format version (atomically). */
export async function upgradeStoreVersion(root: string): Promise<void> {
  const path = join(root, STORE_ID_FILE);
  const old = JSON.parse(
    (await readStoreFile(path, 'store identity file', MAX_SMALL_FILE_BYTES)).toString('utf8'),
  );
  const id = { ...old, version: STORE_FORMAT_VERSION, upgraded: new Date().toISOString() };
  await writeFileAtomic(path, Buffer.from(`${JSON.stringify(id)}\n`));
}

async function createSkeleton(root: string): Promise<void> {
  try {
    await fsp.mkdir(root, { recursive: true, mode: DIR_MODE });
    await fsp.mkdir(join(root, CHUNKS_DIR), { recursive: true, mode: DIR_MODE });
    await fsp.mkdir(join(root, MANIFESTS_DIR), { recursive: true, mode: DIR_MODE });
  } catch (error) {
    throw wrapIoError(error, 'creating store', root);
  }
  const id = { format: 'ckpt-store', version: STORE_FORMAT_VERSION, created: new Date().toISOString() };
  try {
    await writeFileAtomic(join(root, STORE_ID_FILE), Buffer.from(`${JSON.stringify(id)}\n`), {
      exclusive: true,
    });
  } catch (error) {
    // Another process created it at the same moment: theirs is as good as ours.
    if (errnoCode((error as { cause?: unknown }).cause) !== 'EEXIST') throw error;
  }
  await fsyncDir(join(root, '..')).catch(() => {});
}

function checkStoreId(text: string, path: string): number {
  let id: { format?: unknown; version?: unknown };
  try {
    id = JSON.parse(text) as typeof id;
  } catch {
    throw new FormatError(`Store identity file \`${path}\` is not valid JSON.`, {
      hint: `Restore it as {"format":"ckpt-store","version":${STORE_FORMAT_VERSION}}, or point --store at the right directory.`,
    });
  }
  if (id.format !== 'ckpt-store' || typeof id.version !== 'number') {
    throw new FormatError(`\`${path}\` does not describe a ckpt store.`);
  }
  if (id.version > STORE_FORMAT_VERSION) {
    throw new FormatError(
      `Store at \`${path}\` has format version ${id.version}; this ckpt reads up to version ${STORE_FORMAT_VERSION}.`,
      { hint: 'Upgrade ckpt (npm install -g ckpt@latest) to read this store.' },
    );
  }
  return id.version;
}

async function missingStore(root: string): Promise<NoStoreError> {
  const exists = await fsp.stat(root).then(
    () => true,
    () => false,
  );
  return exists
    ? new NoStoreError(`\`${root}\` is not a ckpt store (it has no ${STORE_ID_FILE}).`, {
        hint: 'Point --store (or CKPT_STORE) at a store directory. A store is created by the first save or `ckpt commit`.',
      })
    : new NoStoreError(`No store at \`${root}\`.`, {
        hint: 'Pass --store DIR or set CKPT_STORE. A store is created by the first save or `ckpt commit`.',
      });
}
