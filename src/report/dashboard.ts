import { randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { FlowReport } from './flow-report.js';
import { renderPage } from './html.js';
import { listenOnPort, listenOnSocket } from './listen.js';
import { type Report, readReport, type StoreReportCache, storesUnder } from './report-data.js';

/** How often the dashboard looks for a change in the store (its journal and manifests). */
export const WATCH_MS = 500;
const COOKIE = 'ckpt_token';

/** What a dashboard shows: how to read it, and a cheap fingerprint that changes when it does. */
export interface ReportSource {
  load(): Promise<Report | FlowReport>;
  fingerprint(): Promise<string>;
}

/** The source of a store, or of a directory of stores (each store's manifests read once). */
export function storeSource(path: string): ReportSource {
  const caches = new Map<string, StoreReportCache>();
  return { load: () => readReport(path, caches), fingerprint: () => fingerprint(path) };
}

/** Where and how `ckpt ui` serves. */
export interface DashboardOptions {
  /** What it shows: {@link storeSource}, or a flow's (`ckpt flow ui`). */
  source: ReportSource;
  /** A TCP port on 127.0.0.1 (0: a free one). Ignored with `socket`. */
  port?: number;
  /** A Unix socket path instead of TCP (for `ssh -L 8080:/path/to.sock login-node`). */
  socket?: string;
  /** The access token (default: 24 random bytes, hex). */
  token?: string;
}

/** A running dashboard. */
export interface Dashboard {
  /** The URL to open, with the token in its fragment (a fragment never reaches a server's log). */
  url: string;
  token: string;
  server: Server;
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'X-Frame-Options': 'DENY',
};

/** The page a browser gets before it has the cookie: it trades the URL's `#token=` for one. */
const LOGIN_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'">
<title>ckpt ui</title><style>body{font:14px system-ui,sans-serif;margin:40px}</style></head>
<body><p id="msg">Open the address that <code>ckpt ui</code> printed (it ends with <code>#token=…</code>).</p>
<script>
var m = /^#token=([0-9a-f]+)$/.exec(location.hash);
if (m) {
  fetch('login', { method: 'POST', body: m[1], credentials: 'same-origin' }).then(function (r) {
    if (r.ok) { history.replaceState(null, '', location.pathname); location.reload(); }
    else document.getElementById('msg').textContent = 'This token is not the one ckpt ui printed.';
  });
}
</script></body></html>
`;

/**
 * `ckpt ui`: a read-only dashboard of a store or a directory of stores, on 127.0.0.1 or a Unix
 * socket. Every request is checked in this order: the Host header against an allowlist (a page
 * that rebinds its DNS name to 127.0.0.1 gets 403), then the token (as the `ckpt_token` cookie,
 * set by `POST /login`, or `Authorization: token …`; 401 without). Routes: `/` (the page),
 * `/api/report` (its data), `/api/events` (server-sent `change` events when the store changes).
 * Nothing else is served; no route changes anything in the store.
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const token = options.token ?? randomBytes(24).toString('hex');
  let port = 0;
  // The report is read once per change of the store, not once per request: a store of 10 000
  // checkpoints takes seconds to read, a page must come in well under one.
  const { source } = options;
  let cached = { fingerprint: await source.fingerprint(), report: await source.load() };
  const current = async (): Promise<Report | FlowReport> => {
    const now = await source.fingerprint();
    if (now !== cached.fingerprint) cached = { fingerprint: now, report: await source.load() };
    return cached.report;
  };
  const clients = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, 'text/plain', `ckpt ui: ${(error as Error).message}\n`);
      else res.end();
    });
  });

  const allowedHost = (host: string | undefined): boolean => {
    if (!host) return false;
    const m = /^(localhost|127\.0\.0\.1|\[::1\])(?::(\d+))?$/i.exec(host);
    if (!m) return false;
    // Over a socket the port is whatever the user's tunnel listens on.
    return options.socket !== undefined || m[2] === undefined || Number(m[2]) === port;
  };

  const authorized = (req: IncomingMessage): boolean => {
    const fromCookie = /(?:^|;\s*)ckpt_token=([0-9a-f]+)/.exec(req.headers.cookie ?? '')?.[1];
    const fromHeader = /^token\s+([0-9a-f]+)$/i.exec(req.headers.authorization ?? '')?.[1];
    return [fromCookie, fromHeader].some((t) => t !== undefined && sameToken(t, token));
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!allowedHost(req.headers.host)) {
      send(
        res,
        403,
        'text/plain',
        'ckpt ui: this Host is not allowed (only localhost, 127.0.0.1 and [::1]).\n',
      );
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/login' && req.method === 'POST') {
      const body = await readBody(req, 200);
      if (!sameToken(body.trim(), token)) {
        send(res, 401, 'text/plain', 'ckpt ui: wrong token.\n');
        return;
      }
      res.setHeader('Set-Cookie', `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`);
      send(res, 204, 'text/plain', '');
      return;
    }
    if (!authorized(req)) {
      if (url.pathname === '/' && req.method === 'GET')
        send(res, 401, 'text/html; charset=utf-8', LOGIN_PAGE);
      else send(res, 401, 'text/plain', 'ckpt ui: the token is missing or wrong.\n');
      return;
    }
    if (req.method !== 'GET') {
      send(res, 405, 'text/plain', 'ckpt ui is read-only.\n');
      return;
    }
    if (url.pathname === '/') {
      send(res, 200, 'text/html; charset=utf-8', renderPage(await current(), { live: true }));
    } else if (url.pathname === '/api/report') {
      send(res, 200, 'application/json', JSON.stringify(await current()));
    } else if (url.pathname === '/api/events') {
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'Content-Type': 'text/event-stream',
        Connection: 'keep-alive',
      });
      res.write('retry: 1000\n\n');
      clients.add(res);
      req.on('close', () => clients.delete(res));
    } else {
      send(res, 404, 'text/plain', 'ckpt ui: no such page.\n');
    }
  }

  // One look at the store(s) every WATCH_MS for every client together; a change is read at once,
  // so that the pages that ask next get it from the cache.
  let last = cached.fingerprint;
  let changes = 0;
  let looking = false;
  const watch = setInterval(() => {
    if (looking) return;
    looking = true;
    void source
      .fingerprint()
      .then(async (now) => {
        if (now === last) return;
        last = now;
        await current();
        changes++;
        for (const c of clients) c.write(`event: change\nid: ${changes}\ndata: ${changes}\n\n`);
      })
      .catch(() => {})
      .finally(() => {
        looking = false;
      });
  }, WATCH_MS);
  watch.unref();

  // The socket's inode: on close, only the socket this server made is removed.
  let socketIno: number | undefined;
  try {
    if (options.socket) {
      await listenOnSocket(server, options.socket);
      socketIno = (await fsp.lstat(options.socket)).ino;
    } else {
      port = await listenOnPort(server, options.port ?? 0);
    }
  } catch (error) {
    clearInterval(watch);
    server.close();
    throw error;
  }
  const url = options.socket
    ? `http://localhost:PORT/#token=${token}`
    : `http://127.0.0.1:${port}/#token=${token}`;
  return {
    url,
    token,
    server,
    close: async () => {
      clearInterval(watch);
      for (const c of clients) c.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (options.socket) {
        const now = await fsp.lstat(options.socket).catch(() => undefined);
        if (now?.isSocket() && now.ino === socketIno) await fsp.rm(options.socket, { force: true });
      }
    },
  };
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  const page = type.startsWith('text/html')
    ? {
        'Content-Security-Policy':
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'",
      }
    : {};
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...page,
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

function sameToken(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  let body = '';
  for await (const chunk of req) {
    body += String(chunk);
    if (body.length > limit) break;
  }
  return body;
}

/** What changes when anything is committed or journaled: sizes and mtimes of the journals and manifest directories. */
async function fingerprint(path: string): Promise<string> {
  const stores = await storesUnder(path).catch(() => [] as string[]);
  const parts: string[] = [];
  for (const dir of stores.sort()) {
    for (const name of ['journal.log', 'manifests', 'lease.json', 'packs', 'chunks']) {
      const s = await fsp.stat(join(dir, name)).catch(() => undefined);
      parts.push(s ? `${s.size}:${s.mtimeMs}` : '-');
    }
  }
  return parts.join('|');
}

export type { FlowReport, Report };
