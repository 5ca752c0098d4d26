import { promises as fsp } from 'node:fs';
import type { Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { dirname } from 'node:path';
import { errnoCode, UsageError } from '../errors.js';

/** Linux keeps a Unix socket's path in 108 bytes, the last one a NUL. */
const MAX_SOCKET_PATH_BYTES = 107;
/** How long a connection to an existing socket may take to tell whether a server answers. */
const PROBE_MS = 1000;

/**
 * Listens on 127.0.0.1:`port` (0: a free one) and resolves with the port. A port that is taken
 * or not allowed is a {@link UsageError} naming it and the fix.
 */
export async function listenOnPort(server: Server, port: number): Promise<number> {
  try {
    await listen(server, (done) => server.listen(port, '127.0.0.1', done));
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      throw new UsageError(
        `Port ${port} on 127.0.0.1 ${code === 'EADDRINUSE' ? 'is in use' : 'is not open to this user'} (--port ${port}).`,
        { hint: 'Choose another `--port`, or leave it out for a free one.', cause: error },
      );
    }
    throw error;
  }
  return (server.address() as AddressInfo).port;
}

/**
 * Listens on the Unix socket `path`, readable and writable by this user only from its first
 * moment. Never replaces anything but a socket no server answers on (a dashboard that died):
 * an existing file, directory or live socket is a {@link UsageError}, as are a path too long
 * for a socket and a directory that is not there or not writable.
 */
export async function listenOnSocket(server: Server, path: string): Promise<void> {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new UsageError(
      `The socket path \`${path}\` is ${bytes} bytes long; a Unix socket's path can have at most ${MAX_SOCKET_PATH_BYTES}.`,
      { hint: 'Give `--socket` a shorter path, e.g. `/tmp/ckpt-ui-$USER.sock`.' },
    );
  }
  const dir = dirname(path);
  const parent = await fsp.stat(dir).catch(() => undefined);
  if (!parent?.isDirectory()) {
    throw new UsageError(`Cannot make the socket \`${path}\`: there is no directory \`${dir}\`.`, {
      hint: 'Give `--socket` a path in a directory you can write, e.g. `/tmp/ckpt-ui-$USER.sock`.',
    });
  }
  const existing = await fsp.lstat(path).catch((error: unknown) => {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  });
  if (existing && !existing.isSocket()) {
    throw new UsageError(
      `\`${path}\` exists and is ${existing.isDirectory() ? 'a directory' : 'not a socket'}: ckpt ui does not replace it.`,
      { hint: 'Give `--socket` a path where nothing is, e.g. `/tmp/ckpt-ui-$USER.sock`.' },
    );
  }
  if (existing) {
    if (await answers(path)) {
      throw new UsageError(`A server already listens on the socket \`${path}\` (another ckpt ui?).`, {
        hint: 'Stop it, or give `--socket` another path.',
      });
    }
    await fsp.rm(path, { force: true }); // a socket left by a dashboard that died
  }
  const umask = process.umask(0o177);
  try {
    await listen(server, (done) => server.listen(path, done));
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR' || code === 'EROFS') {
      throw new UsageError(
        `Cannot make the socket \`${path}\`: its directory ${code === 'ENOENT' || code === 'ENOTDIR' ? 'is not there' : 'is not writable'} (${code}).`,
        {
          hint: 'Give `--socket` a path in a directory you can write, e.g. `/tmp/ckpt-ui-$USER.sock`.',
          cause: error,
        },
      );
    }
    if (code === 'EADDRINUSE') {
      throw new UsageError(`Something was made at \`${path}\` meanwhile; ckpt ui does not replace it.`, {
        hint: 'Give `--socket` another path.',
        cause: error,
      });
    }
    throw error;
  } finally {
    process.umask(umask);
  }
}

/** Whether a server accepts connections on the socket at `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const done = (live: boolean) => {
      socket.destroy();
      resolve(live);
    };
    socket.setTimeout(PROBE_MS, () => done(true));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function listen(server: Server, start: (done: () => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const failed = (error: Error) => reject(error);
    server.once('error', failed);
    start(() => {
      server.off('error', failed);
      resolve();
    });
  });
}
