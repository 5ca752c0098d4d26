import { type CommandContext, openExistingStore, printJson } from '../context.js';
import { formatAge, formatBytes, formatStep, formatTable } from '../format.js';

/** `ckpt ls [--deep]`: one line per checkpoint, newest last; damaged ones say why. */
export async function runLs(ctx: CommandContext, flags: { deep?: boolean } = {}): Promise<number> {
  const store = await openExistingStore(ctx);
  // Shallow health: manifests verified, chunks present with their sizes; --deep re-hashes them.
  const health = await store.health();
  if (flags.deep) {
    for (const item of health) {
      if (item.manifest && !item.problem) item.problem = await store.checkChunksDeep(item.manifest);
    }
  }
  const rows = await Promise.all(
    health.map(async (item) => {
      const m = item.manifest;
      if (!m) return { seq: item.seq, ok: false, problem: item.problem };
      const problem = item.problem;
      const files = m.entries.filter((e) => e.type === 'file').length;
      return {
        seq: m.seq,
        ok: !problem,
        ...(problem ? { problem } : {}),
        step: m.step,
        stepKind: m.meta.stepKind === 'capture-counter' ? 'capture-counter' : 'program',
        time: m.time,
        kind: `${files > 0 ? `${files} file${files === 1 ? '' : 's'}` : 'value'}${m.ranks === undefined ? '' : `, ${m.ranks} rank${m.ranks === 1 ? '' : 's'}`}`,
        bytes: m.stats.bytes,
        writtenBytes: m.stats.writtenBytes,
        durationMs: m.stats.durationMs,
        writer: m.writer,
        meta: m.meta,
      };
    }),
  );
  if (ctx.json) {
    printJson(ctx, { store: store.root, checkpoints: rows });
    return 0;
  }
  if (rows.length === 0) {
    ctx.out(`No checkpoints in ${store.root}.`);
    return 0;
  }
  ctx.out(
    formatTable(
      ['ID', 'STEP', 'AGE', 'SIZE', 'WRITTEN', 'CONTENT', 'STATUS'],
      rows.map((r) =>
        'step' in r
          ? [
              `#${r.seq}`,
              formatStep(r.step, r.meta),
              formatAge(r.time),
              formatBytes(r.bytes),
              formatBytes(r.writtenBytes),
              r.kind,
              r.ok ? 'ok' : `DAMAGED: ${r.problem}`,
            ]
          : [`#${r.seq}`, '?', '?', '?', '?', '?', `DAMAGED: ${r.problem}`],
      ),
    ),
  );
  return 0;
}
