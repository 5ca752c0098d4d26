import { createSlurmHolderProbe } from '../../slurm/index.js';
import { describeWriter } from '../../store/index.js';
import { readJobStatus } from '../../supervisor/index.js';
import { type CommandContext, openExistingStore, printJson } from '../context.js';
import { formatDuration } from '../format.js';

const STATE_TEXT = {
  running: 'running',
  finished: 'finished',
  interrupted: 'interrupted (resumable: run the same command again)',
  failed: 'failed (restart budget used up)',
  'cannot-start': 'the command could not be started',
  requeued: 'requeued: waiting in the queue to resume from its checkpoint',
  fenced: 'stopped: another copy of the job owns the store',
  'supervisor-died': 'not running: its supervisor died without recording an end (killed?)',
  'no-run': 'never run under `ckpt run`',
  'journal-unreadable': 'unknown: its journal cannot be read (see below)',
  'store-unreadable': 'unknown: the store cannot be read',
} as const;

/** `ckpt status`: the job's state, segments, restarts, last checkpoint and work lost. */
export async function runStatus(ctx: CommandContext): Promise<number> {
  const store = await openExistingStore(ctx);
  const status = await readJobStatus(store, { holderProbe: createSlurmHolderProbe() });
  if (ctx.json) {
    printJson(ctx, { store: store.root, ...status });
    return 0;
  }
  ctx.out(`Job: ${STATE_TEXT[status.state]}`);
  if (status.holder)
    ctx.out(
      `Writer: ${describeWriter(status.holder)} (${status.holder.state}), since ${status.holder.startedAt}`,
    );
  ctx.out(`Segments: ${status.segments.length}, restarts: ${status.restarts}`);
  status.segments.forEach((s, i) => {
    const from = s.resumeFrom
      ? `resumed from #${s.resumeFrom.seq} (step ${s.resumeFrom.stepKind === 'capture-counter' ? `capture ${s.resumeFrom.step}` : s.resumeFrom.step})`
      : 'fresh start';
    const exit = s.exit
      ? s.exit.startError
        ? `could not start: ${s.exit.startError}`
        : s.exit.signal
          ? `killed by ${s.exit.signal}`
          : `exit ${s.exit.code}`
      : undefined;
    const end = exit ?? (s.ended ? 'ended' : '…');
    const why = s.endReason ? ` (${s.endReason})` : '';
    const lost = s.lostMs > 0 ? `, lost ${formatDuration(s.lostMs)}` : '';
    const task = s.slurm?.arrayTaskId ? `_${s.slurm.arrayTaskId}` : '';
    const nodes = s.slurm?.nodes ? `, nodes ${s.slurm.nodes}` : '';
    const ranks = s.ranks === undefined ? '' : `, ${s.ranks} ranks`;
    const job = s.slurm
      ? ` [SLURM ${s.slurm.jobId}${task}, restart ${s.slurm.restartCount ?? 0}${nodes}${ranks}]`
      : ranks === ''
        ? ''
        : ` [${s.ranks} ranks]`;
    ctx.out(`  ${i + 1}. ${s.started}${job}  ${from} → ${end}${why}${lost}`);
  });
  const last = status.lastCheckpoint;
  ctx.out(
    last
      ? `Last checkpoint: #${last.seq} (step ${last.stepKind === 'capture-counter' ? `capture ${last.step}` : last.step}), ${formatDuration(last.ageMs)} ago`
      : 'Last checkpoint: none',
  );
  ctx.out(`Work lost so far: ${formatDuration(status.workLostMs)}`);
  for (const f of status.markedFailing) ctx.out(`Checkpoint #${f.seq} was given up at ${f.time}: ${f.why}.`);
  if (status.journal.unreadable !== undefined) {
    ctx.err(
      `ckpt: warning: the journal cannot be read, so the job's history is unknown. ${status.journal.unreadable} The checkpoints do not depend on it; \`ckpt verify\` checks them.`,
    );
  }
  return 0;
}
