import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { UnsafePathError, wrapIoError } from '../errors.js';
import { DIR_MODE, FILE_MODE, fsyncDir, writeAll } from './atomic-write.js';
import { PACK_TARGET_BYTES, PACKS_DIR, packPath } from './layout.js';
import { assertRealDir } from './safe-fs.js';
import { trustFile } from './trust.js';

interface OpenPack {
  id: string;
  path: string;
  handle: Promise<fsp.FileHandle>;
  size: number;
  writes: Array<Promise<unknown>>;
}

/**
 * Appends the stored bytes of a save's new chunks to pack files (format v2): one file, and one
 * fsync, per {@link PACK_TARGET_BYTES} instead of one per chunk. Offsets are handed out at once
 * and the writes run in parallel; a full pack is fsynced while the next one fills. A pack is
 * named by no manifest until {@link finish} resolved, so a writer killed midway leaves only an
 * unreferenced pack, which `ckpt gc` removes.
 */
export class PackWriter {
  private current: OpenPack | undefined;
  /** The last seal begun: seals run one after another (see {@link seal}). */
  private lastSeal: Promise<void> = Promise.resolve();
  private readonly sealing: Array<Promise<void>> = [];
  private readonly written: string[] = [];
  private dirReady: Promise<void> | undefined;

  constructor(private readonly root: string) {}

  /** Writes `bytes` into the current pack; resolves to where they are once written (not yet durable). */
  async append(bytes: Uint8Array): Promise<{ p: string; o: number }> {
    if (this.current && this.current.size >= PACK_TARGET_BYTES) {
      this.sealing.push(this.sealInTurn(this.current));
      this.current = undefined;
    }
    this.current ??= this.open();
    const pack = this.current;
    const o = pack.size;
    pack.size += bytes.byteLength;
    const write = pack.handle.then((handle) => writeAll(handle, bytes, o));
    pack.writes.push(write);
    await write.catch((error: unknown) => {
      throw wrapIoError(error, 'writing pack', pack.path);
    });
    return { p: pack.id, o };
  }

  /** Makes every pack durable (data, then the directory entry). */
  async finish(): Promise<void> {
    if (this.current) this.sealing.push(this.sealInTurn(this.current));
    this.current = undefined;
    await Promise.all(this.sealing);
    if (this.written.length > 0) await fsyncDir(join(this.root, PACKS_DIR));
  }

  /** After a failure: closes and removes the packs of this save (no manifest names them). */
  async discard(): Promise<void> {
    const open = this.current;
    this.current = undefined;
    await Promise.allSettled([...this.sealing, ...(open?.writes ?? [])]);
    if (open) await open.handle.then((handle) => handle.close()).catch(() => {});
    await Promise.all(this.written.map((path) => fsp.rm(path, { force: true }).catch(() => {})));
  }

  private open(): OpenPack {
    const id = randomBytes(16).toString('hex');
    const path = packPath(this.root, id);
    this.written.push(path);
    this.dirReady ??= this.ensureDir();
    const handle = this.dirReady.then(() =>
      fsp.open(path, 'wx', FILE_MODE).catch((error: unknown) => {
        throw wrapIoError(error, 'creating pack', path);
      }),
    );
    handle.catch(() => {});
    return { id, path, handle, size: 0, writes: [] };
  }

  /**
   * NOTE: an fdatasync holds one of libuv's four threads until the disk is done, and hashing and
   * the other writes need those threads too; one seal at a time keeps the disk busy without
   * starving them (measured: bench/store.mjs).
   */
  private sealInTurn(pack: OpenPack): Promise<void> {
    const sealed = this.lastSeal.then(() => this.seal(pack));
    this.lastSeal = sealed.catch(() => {});
    return sealed;
  }

  private async seal(pack: OpenPack): Promise<void> {
    await Promise.all(pack.writes);
    const handle = await pack.handle;
    try {
      await handle.datasync();
    } catch (error) {
      throw wrapIoError(error, 'syncing pack', pack.path);
    } finally {
      await handle.close().catch(() => {});
    }
    await trustFile(pack.path);
  }

  /** `packs/` must be a real directory: anything planted in its place is unlinked, never followed. */
  private async ensureDir(): Promise<void> {
    const dir = join(this.root, PACKS_DIR);
    const real = await assertRealDir(dir, 'pack directory').catch(async (error: unknown) => {
      if (!(error instanceof UnsafePathError)) throw error;
      await fsp.unlink(dir).catch((cause: unknown) => {
        throw wrapIoError(cause, 'removing the foreign entry', dir);
      });
      return false;
    });
    if (real) return;
    await fsp.mkdir(dir, { mode: DIR_MODE }).catch((error: unknown) => {
      if ((error as { code?: string }).code !== 'EEXIST') throw wrapIoError(error, 'creating', dir);
    });
    await fsyncDir(this.root);
  }
}
