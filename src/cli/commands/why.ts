import { journalEventsOf, readJournal } from '../../store/index.js';
import { type CommandContext, openExistingStore, printJson } from '../context.js';
import { formatAge } from '../format.js';

/** `ckpt why`: which checkpoint the next start resumes from, and why newer ones are passed over. */
export async function runWhy(ctx: CommandContext): Promise<number> {
  const store = await openExistingStore(ctx);
  // The newest candidates are hashed until one verifies: the answer is the checkpoint a restore uses.
  const { usable, skipped } = await store.candidates({ deepFirst: true });
  const chosen = usable[0];
  // The restart loop's marks (journal): checkpoints the program failed on right after starting.
  const existing = new Set(usable.map((m) => m.seq));
  const failing = journalEventsOf((await readJournal(store.root)).events, 'checkpoint-failing')
    .filter((e) => existing.has(e.seq))
    .map(({ seq, why, time }) => ({ seq, why, time }));
  const newerSkipped = skipped.filter((s) => !chosen || s.seq > chosen.seq);
  if (ctx.json) {
    printJson(ctx, {
      resumeFrom: chosen ? { seq: chosen.seq, step: chosen.step, time: chosen.time } : null,
      skipped: newerSkipped,
      markedFailing: failing,
    });
    return 0;
  }
  if (!chosen) ctx.out('The next start is a fresh start: no checkpoint verifies.');
  else {
    ctx.out(
      `The next start resumes from #${chosen.seq} (step ${chosen.step}, ${formatAge(chosen.time)}): the newest checkpoint whose manifest verifies and whose every chunk was re-read and matches its hash.`,
    );
  }
  for (const s of newerSkipped) ctx.out(`  skipped #${s.seq}: ${s.reason}`);
  if (chosen && newerSkipped.length === 0) ctx.out('No newer checkpoint was skipped.');
  for (const f of failing) {
    ctx.out(
      `  note: \`ckpt run\` marked #${f.seq} failing at ${f.time} (${f.why}); a new \`ckpt run\` tries it again first.`,
    );
  }
  return 0;
}
