import { InvalidArgumentError } from 'commander';
import type { ReportSource } from '../../report/index.js';
import type { CommandContext } from '../context.js';
import { storesToShow } from './report.js';

/** `--port`: a TCP port number. */
export function portOption(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) {
    throw new InvalidArgumentError(`Expected \`--port\` to be a port number (1-65535), got \`${value}\`.`);
  }
  return n;
}

/** `ckpt ui`: serves the live dashboard until SIGINT or SIGTERM. */
export async function runUi(ctx: CommandContext, o: { port?: number; socket?: string }): Promise<number> {
  await storesToShow(ctx);
  const { storeSource } = await import('../../report/index.js');
  return serveDashboard(ctx, storeSource(ctx.storeDir), o);
}

/** Serves `source` until SIGINT or SIGTERM, printing where (`ckpt ui`, `ckpt flow ui`). */
export async function serveDashboard(
  ctx: CommandContext,
  source: ReportSource,
  o: { port?: number; socket?: string },
): Promise<number> {
  const { startDashboard } = await import('../../report/index.js');
  const dashboard = await startDashboard({
    source,
    ...(o.port !== undefined ? { port: o.port } : {}),
    ...(o.socket ? { socket: o.socket } : {}),
  });
  if (o.socket) {
    ctx.out(`ckpt ui: serving on the socket ${o.socket} (only you can open it).`);
    ctx.out(`From your computer: ssh -L 8080:${o.socket} THIS-HOST, then open`);
    ctx.out(dashboard.url.replace('PORT', '8080'));
  } else {
    ctx.out('ckpt ui: open this address (it holds the access token; Ctrl-C stops the server):');
    ctx.out(dashboard.url);
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await dashboard.close();
  return 0;
}
