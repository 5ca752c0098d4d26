import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { errnoCode, FencedError, IntegrityError, LockedError, wrapIoError } from '../errors.js';
import { fsyncDir, writeFileAtomic } from './atomic-write.js';
import { appendJournal } from './journal.js';
import { LEASE_FILE, MAX_SMALL_FILE_BYTES } from './layout.js';
import type { WriterInfo } from './manifest.js';
import { liveThreadOf, processStartTime, readProcessStat } from './process-stat.js';
import { readStoreFile } from './safe-fs.js';
import { currentWriter, describeWriter } from './writer-info.js';

/** The content of `lease.json`: who holds the store's single writer slot. */
export interface LeaseRecord extends WriterInfo {
  token: string;
  startedAt: string;
  /** The holder's start time in clock ticks since boot (Linux), to tell a reused pid apart. */
  processStart?: number;
}

/** `alive`: provably running; `dead`: provably gone; `unknown`: cannot tell (another host). */
export type HolderState = 'alive' | 'dead' | 'unknown';

/**
 * Asks a higher layer what it knows of a holder beyond this host's process table (the slurm
 * layer: is the holder's job still running, or is it an older incarnation of a requeued job?).
 * Asked about every holder that this host cannot prove dead; returns undefined when it cannot tell.
 */
export type HolderProbe = (record: LeaseRecord) => Promise<HolderState | undefined>;

/**
 * Whether the holder of `record` still runs. A holder on this host whose pid is gone (or reused)
 * is dead. Otherwise the probe is asked: its `dead` wins even over a live pid here (a stale copy
 * of a job; taking its lease over fences it), then a live pid here is `alive`, then the probe's
 * answer, else `unknown`. Without a probe only a holder on this host can be proven dead.
 */
export async function holderState(record: LeaseRecord, probe?: HolderProbe): Promise<HolderState> {
  const local = record.host === hostname() ? await localHolderState(record) : 'unknown';
  if (local === 'dead') return 'dead';
  const said = await probe?.(record);
  if (said === 'dead') return 'dead';
  return local === 'alive' ? 'alive' : (said ?? 'unknown');
}

/**
 * A holder on this host: `dead` if its pid is gone, was reused, or has exited and waits to be
 * reaped (a zombie never writes again; init may take a second or more to reap it), else `alive`.
 */
async function localHolderState(record: LeaseRecord): Promise<'alive' | 'dead'> {
  try {
    process.kill(record.pid, 0);
  } catch (error) {
    if (errnoCode(error) === 'ESRCH') return 'dead';
  }
  const stat = await readProcessStat(record.pid);
  if (stat === undefined) return 'alive'; // no /proc: the pid answering is all we know
  if ((await liveThreadOf(record.pid, stat)) === undefined) return 'dead';
  if (record.processStart !== undefined && stat.start !== record.processStart) return 'dead';
  return 'alive';
}

/** Reads the current lease, or undefined when nobody holds the store. */
export async function readLease(root: string): Promise<LeaseRecord | undefined> {
  const path = join(root, LEASE_FILE);
  let text = '';
  try {
    text = (await readStoreFile(path, 'lease file', MAX_SMALL_FILE_BYTES)).toString('utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    // A FIFO, symlink or oversized file where the lease belongs: unreadable, reported below.
    if (!(error instanceof IntegrityError)) throw wrapIoError(error, 'reading lease', path);
  }
  try {
    const record = JSON.parse(text) as LeaseRecord;
    if (
      typeof record.pid === 'number' &&
      typeof record.host === 'string' &&
      typeof record.token === 'string'
    ) {
      return record;
    }
  } catch {
    // fall through: a lease is written atomically, so this is damage, not a write in progress
  }
  throw new LockedError(
    `The lease file \`${path}\` is unreadable, so ckpt cannot tell who holds the store.`,
    {
      hint: 'If no job is using this store, run `ckpt unlock --force` to remove the lease.',
    },
  );
}

/** A held writer lease. Call {@link Lease.assertHeld} right before committing, {@link Lease.release} at the end. */
export class Lease {
  constructor(
    readonly root: string,
    readonly record: LeaseRecord,
    /** A lease borrowed from a supervisor (`ckpt run`): used to commit, never released. */
    readonly delegated = false,
  ) {}

  /** Throws {@link FencedError} if another writer has taken the lease over since we acquired it. */
  async assertHeld(): Promise<void> {
    const current = await readLease(this.root);
    if (current?.token !== this.record.token) {
      const by = current ? describeWriter(current) : 'nobody (the lease file is gone)';
      throw new FencedError(`This writer's lease on ${this.root} is now held by ${by}; refusing to commit.`, {
        hint: 'Another ckpt process took over this store (for example after a requeue). Stop this copy of the job.',
      });
    }
  }

  /**
   * Marks the lease as alive now (its file's mtime): after a holder dies without a word (SIGKILL,
   * a node crash), the takeover journals this as the moment it was last known alive. Best effort.
   */
  async touch(): Promise<void> {
    if (this.delegated) return;
    const now = new Date();
    await fsp.utimes(join(this.root, LEASE_FILE), now, now).catch(() => {});
  }

  /** Gives the lease up if still ours. Never throws for a lease that is already gone. */
  async release(): Promise<void> {
    if (this.delegated) return;
    const current = await readLease(this.root);
    if (current?.token !== this.record.token) return;
    await fsp.rm(join(this.root, LEASE_FILE), { force: true });
    await fsyncDir(this.root);
  }
}

const MAX_ATTEMPTS = 5;

/** Environment variable through which `ckpt run` lends its lease to the program it supervises. */
export const LEASE_TOKEN_ENV = 'CKPT_LEASE_TOKEN';

/**
 * Takes the lease, or borrows it: when `env` carries the token of the lease currently held on
 * this store (the program runs under `ckpt run`), returns a delegated lease on it. `probe` as for
 * {@link acquireLease}.
 */
export async function acquireOrBorrowLease(
  root: string,
  env: NodeJS.ProcessEnv = process.env,
  probe?: HolderProbe,
): Promise<Lease> {
  const token = env[LEASE_TOKEN_ENV];
  if (token) {
    const current = await readLease(root);
    if (current?.token === token) return new Lease(root, current, true);
  }
  return acquireLease(root, probe);
}

/**
 * Takes the store's writer lease. A holder that is provably gone (dead pid on this host, a reused
 * pid, or dead by the `probe`: see {@link holderState}) is taken over and the takeover is
 * journaled; a live or unknown holder gets a {@link LockedError} naming it.
 */
export async function acquireLease(root: string, probe?: HolderProbe): Promise<Lease> {
  const path = join(root, LEASE_FILE);
  const record: LeaseRecord = {
    ...currentWriter(),
    token: randomBytes(12).toString('hex'),
    startedAt: new Date().toISOString(),
  };
  const start = await processStartTime(process.pid);
  if (start !== undefined) record.processStart = start;
  const bytes = Buffer.from(`${JSON.stringify(record)}\n`);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    try {
      await writeFileAtomic(path, bytes, { exclusive: true });
      return new Lease(root, record);
    } catch (error) {
      if (errnoCode((error as { cause?: unknown }).cause) !== 'EEXIST') throw error;
    }
    const holder = await readLease(root);
    if (!holder) continue; // released (or torn) meanwhile: try again
    const state = await holderState(holder, probe);
    if (state !== 'dead') throw lockedBy(root, holder, state);
    await takeOver(root, holder);
  }
  throw new LockedError(
    `Could not take the lease on ${root} after ${MAX_ATTEMPTS} attempts: other writers keep racing.`,
  );
}

/** Moves a dead holder's lease aside; if what we moved turns out not to be it, puts it back. */
async function takeOver(root: string, dead: LeaseRecord): Promise<void> {
  const path = join(root, LEASE_FILE);
  const aside = join(root, `.lease.stale.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    await fsp.rename(path, aside);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return;
    throw wrapIoError(error, 'taking over lease', path);
  }
  const lastAliveAt = await fsp
    .lstat(aside)
    .then((stat) => stat.mtime.toISOString())
    .catch(() => undefined);
  const moved = await readStoreFile(aside, 'lease file', MAX_SMALL_FILE_BYTES)
    .then((bytes) => bytes.toString('utf8'))
    .catch(() => '');
  if (!moved.includes(dead.token)) {
    // Another process took over first and we moved its fresh lease: give it back.
    await fsp.link(aside, path).catch(() => {});
    await fsp.rm(aside, { force: true });
    return;
  }
  await fsp.rm(aside, { force: true });
  // The lease is ours either way; a journal that cannot take the line does not undo that.
  await appendJournal(root, 'lease-takeover', {
    from: dead,
    by: currentWriter(),
    ...(lastAliveAt ? { lastAliveAt } : {}),
  }).catch(() => {});
}

function lockedBy(root: string, holder: LeaseRecord, state: HolderState): LockedError {
  const since = holder.startedAt ? `, since ${holder.startedAt}` : '';
  const why = state === 'unknown' ? ' (on another host: ckpt cannot tell whether it still runs)' : '';
  return new LockedError(`Store ${root} is locked by ${describeWriter(holder)}${since}${why}.`, {
    hint:
      state === 'unknown'
        ? 'Wait for that job to finish. If it is gone for sure, run `ckpt unlock` on this store.'
        : 'Wait for that process to finish, or stop it. Only one writer may use a store at a time.',
  });
}

/** Removes the lease whatever its holder (the `ckpt unlock` escape hatch); returns who held it. */
export async function breakLease(root: string): Promise<LeaseRecord | undefined> {
  const holder = await readLease(root).catch((error: unknown) => {
    if (error instanceof LockedError) return undefined; // unreadable: removing it is the fix
    throw error;
  });
  await fsp.rm(join(root, LEASE_FILE), { force: true });
  await fsyncDir(root);
  if (holder) await appendJournal(root, 'lease-broken', { from: holder, by: currentWriter() });
  return holder;
}
