import { join, resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { FlowEvent, FlowStatus, TaskGraph } from '../../flow/index.js';
import { parseDuration } from '../../supervisor/duration.js';
import { type CommandContext, printJson } from '../context.js';
import { EXIT_FAILURE, EXIT_RESUMABLE } from '../exit-codes.js';
import { packageRoot } from '../package-root.js';
import { portOption } from './ui.js';

type Action = (
  fn: (cmd: Command, ...args: never[]) => Promise<number>,
) => (...args: unknown[]) => Promise<void>;

function pollOption(value: string): number {
  try {
    return parseDuration(value, '--poll');
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function jobsOption(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) {
    throw new InvalidArgumentError(`Expected \`--jobs\` to be a positive integer, got \`${value}\`.`);
  }
  return n;
}

async function load(file: string | undefined): Promise<TaskGraph> {
  return (await import('../../flow/index.js')).loadWorkflow(file);
}

/** `ckpt flow …`: run a workflow file's steps with step-level resume (docs/flow.md). */
export function addFlowCommand(
  program: Command,
  action: Action,
  ctx: (cmd: Command) => CommandContext,
  json: () => Option,
): void {
  const flow = program
    .command('flow')
    .description('run a workflow of steps (ckpt-flow.yaml) so that finished steps are never redone');
  const file = '[file]';
  const fileHelp = 'the workflow file (default: ckpt-flow.yaml)';
  flow
    .command('run')
    .description('run what is needed, in dependency order; a killed run loses no finished task')
    .argument(file, fileHelp)
    .option('-j, --jobs <n>', 'tasks to run at once', jobsOption, 1)
    .option(
      '--local',
      'run `executor: slurm` steps on this machine too (their slurm: options are ignored)',
      false,
    )
    .option(
      '--poll <duration>',
      "how often SLURM is asked about the flow's jobs (one squeue for all)",
      pollOption,
      10_000,
    )
    .action(
      action(async (cmd: Command, path?: string) =>
        runFlowCommand(
          ctx(cmd),
          await load(path),
          cmd.opts<{ jobs: number; local: boolean; poll: number }>(),
        ),
      ),
    );
  flow
    .command('plan')
    .description('what a run would do now, and why; runs nothing')
    .argument(file, fileHelp)
    .addOption(json())
    .action(action(async (cmd: Command, path?: string) => runPlan(ctx(cmd), await load(path))));
  flow
    .command('status')
    .description('each step and task: done, cached, running, pending, failed or blocked, with attempts')
    .argument(file, fileHelp)
    .addOption(json())
    .action(action(async (cmd: Command, path?: string) => runStatus(ctx(cmd), await load(path))));
  flow
    .command('why')
    .description('why the tasks of a step will run or were skipped: what changed, with old and new hashes')
    .argument('<step>', 'a step name')
    .argument(file, fileHelp)
    .addOption(json())
    .action(
      action(async (cmd: Command, step: string, path?: string) => runWhy(ctx(cmd), await load(path), step)),
    );
  flow
    .command('graph')
    .description('the steps and their needs as Graphviz DOT or Mermaid')
    .argument(file, fileHelp)
    .addOption(new Option('--format <format>', 'output format').choices(['dot', 'mermaid']).default('dot'))
    .action(
      action(async (cmd: Command, path?: string) => {
        const { renderGraph } = await import('../../flow/index.js');
        ctx(cmd).out(renderGraph(await load(path), cmd.opts<{ format: 'dot' | 'mermaid' }>().format));
        return 0;
      }),
    );
  flow
    .command('report')
    .description('write one self-contained HTML report of the workflow: steps, attempts, tasks')
    .argument(file, fileHelp)
    .requiredOption('--html <file>', 'where to write the report')
    .action(
      action(async (cmd: Command, path?: string) => {
        const { readFlowReport, renderPage } = await import('../../report/index.js');
        const { writeFileAtomic } = await import('../../store/index.js');
        const report = await readFlowReport(await load(path), process.env);
        const out = resolve(cmd.opts<{ html: string }>().html);
        await writeFileAtomic(out, Buffer.from(renderPage(report, { live: false })), { mode: 0o644 });
        ctx(cmd).out(
          `Wrote ${out} (${report.tasks.length + report.moreTasks} tasks); it opens in any browser, without a network.`,
        );
        return 0;
      }),
    );
  flow
    .command('ui')
    .description('a live, read-only dashboard of the workflow, on 127.0.0.1 or a Unix socket')
    .argument(file, fileHelp)
    .option('--port <n>', 'the TCP port (default: a free one)', portOption)
    .option('--socket <path>', 'serve on a Unix socket instead (for ssh -L from your computer)')
    .action(
      action(async (cmd: Command, path?: string) => {
        const { flowFingerprint, readFlowReport } = await import('../../report/index.js');
        const { serveDashboard } = await import('./ui.js');
        const graph = await load(path);
        const source = {
          load: () => readFlowReport(graph, process.env),
          fingerprint: () => flowFingerprint(graph),
        };
        return serveDashboard(ctx(cmd), source, cmd.opts<{ port?: number; socket?: string }>());
      }),
    );
  flow
    .command('exec', { hidden: true })
    .description('run one attempt of a task and commit its record (started by `ckpt flow run`)')
    .requiredOption('--spec <json>', 'the task, as the head hands it over')
    .action(
      action(async (cmd: Command) => {
        const { runTaskWrapper } = await import('../../flow/run-task.js');
        const spec = JSON.parse(cmd.opts<{ spec: string }>().spec);
        return runTaskWrapper(spec, process.stdin, ctx(cmd).out);
      }),
    );
  flow
    .command('job', { hidden: true })
    .description(
      'run one task of a SLURM submission and commit its record (the batch script of `ckpt flow run`)',
    )
    .requiredOption('--submission <file>', 'the submission, as the head wrote it')
    .action(
      action(async (cmd: Command) => {
        const { runSlurmJob } = await import('../../flow/slurm-job.js');
        return runSlurmJob(cmd.opts<{ submission: string }>().submission, process.env, ctx(cmd).out);
      }),
    );
}

/** The argv that runs this ckpt again (wrappers, `ckpt run` of checkpoint steps). */
function ckptArgv(): string[] {
  return [process.execPath, join(packageRoot(), 'bin', 'ckpt')];
}

function eventLine(event: FlowEvent, count: { ended: number; total: number }): string {
  const n = () => `[${count.ended}/${count.total}]`;
  switch (event.type) {
    case 'reaped':
      return `ended tasks a dead head left running: ${event.tasks.join(', ')}`;
    case 'cached':
      count.ended++;
      return `${n()} cached   ${event.task}`;
    case 'start':
      return `${n()} start    ${event.task}${event.attempt > 1 ? ` (attempt ${event.attempt})` : ''}`;
    case 'submitted':
      return `${n()} submit   ${event.task}${event.attempt > 1 ? ` (attempt ${event.attempt})` : ''}: SLURM job ${event.job}`;
    case 'attached':
      return `${n()} attach   ${event.task}: SLURM job ${event.job} of an earlier run still runs it`;
    case 'resubmitted':
      return `${n()} resubmit ${event.task}: ${event.why}; it resumes from its checkpoint if it has one`;
    case 'warning':
      return `ckpt flow: warning: ${event.message}`;
    case 'done':
      count.ended++;
      return `${n()} done     ${event.task} (${(event.ms / 1000).toFixed(1)} s${event.job ? `, job ${event.job}` : ''})`;
    case 'failed':
      if (!event.retry) count.ended++;
      return `${n()} failed   ${event.task} (attempt ${event.attempt}): ${event.error}${event.retry ? '; retrying' : ''}\n           log: ${event.log}`;
    case 'blocked':
      count.ended++;
      return `${n()} blocked  ${event.task}: ${event.why}`;
  }
}

/**
 * On a terminal, a last line that says what runs now, redrawn under the event lines; elsewhere
 * (a log file, a pipe) nothing, so the output is the event lines alone.
 */
function liveFooter(count: { ended: number; total: number }): { clear(): void; note(e: FlowEvent): void } {
  const tty = process.stdout.isTTY === true;
  const running = new Set<string>();
  let shown = false;
  return {
    clear() {
      if (shown) process.stdout.write('\r\x1b[K');
      shown = false;
    },
    note(event) {
      if (event.type === 'start' || event.type === 'submitted' || event.type === 'attached')
        running.add(event.task);
      else if (event.type === 'done' || event.type === 'failed') running.delete(event.task);
      if (!tty || running.size === 0) return;
      const names = [...running].join(', ');
      const width = (process.stdout.columns ?? 80) - 1;
      process.stdout.write(`[${count.ended}/${count.total}] running: ${names}`.slice(0, width));
      shown = true;
    },
  };
}

async function runFlowCommand(
  ctx: CommandContext,
  graph: TaskGraph,
  o: { jobs: number; local: boolean; poll: number },
): Promise<number> {
  const { runFlow } = await import('../../flow/index.js');
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const count = { ended: 0, total: graph.tasks.length };
  const footer = liveFooter(count);
  try {
    const result = await runFlow(graph, {
      jobs: o.jobs,
      ckpt: ckptArgv(),
      allLocal: o.local,
      slurmQueryMs: o.poll,
      env: process.env,
      onEvent: (event) => {
        footer.clear();
        ctx.out(eventLine(event, count));
        footer.note(event);
      },
      signal: abort.signal,
    });
    footer.clear();
    const summary = `${result.ran.length} ran, ${result.cached.length} cached, ${result.failed.length} failed, ${result.blocked.length} blocked`;
    if (result.interrupted) {
      const jobs = result.slurmJobs.length
        ? ` SLURM jobs ${result.slurmJobs.join(', ')} go on; the next run re-attaches to them (scancel them to stop them).`
        : '';
      ctx.err(`ckpt flow: stopped (${summary}); run it again to go on, finished tasks are kept.${jobs}`);
      return EXIT_RESUMABLE;
    }
    ctx.out(`ckpt flow: ${summary}.`);
    return result.failed.length + result.blocked.length > 0 ? EXIT_FAILURE : 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

async function status(graph: TaskGraph): Promise<FlowStatus> {
  return (await import('../../flow/index.js')).readFlowStatus(graph, process.env);
}

async function runPlan(ctx: CommandContext, graph: TaskGraph): Promise<number> {
  const { describeAssessment } = await import('../../flow/index.js');
  const { rows } = await status(graph);
  if (ctx.json) {
    printJson(
      ctx,
      rows.map((r) => ({
        task: r.task,
        step: r.step,
        action: r.assessment.verdict === 'done' ? 'skip' : r.assessment.verdict,
        key: r.key,
        why: describeAssessment(r.assessment),
      })),
    );
    return 0;
  }
  const runs = rows.filter((r) => r.assessment.verdict === 'run');
  // One write for the whole plan: a plan can have 100 000 lines.
  const lines: string[] = [];
  for (const r of rows) {
    const verb =
      r.assessment.verdict === 'done' ? 'skip ' : r.assessment.verdict === 'run' ? 'run  ' : 'block';
    const [first, ...more] = describeAssessment(r.assessment);
    lines.push(`${verb} ${r.task}: ${first ?? ''}`);
    for (const line of more) lines.push(`      ${' '.repeat(r.task.length)}  ${line}`);
  }
  lines.push(`${runs.length} of ${rows.length} tasks would run.`);
  ctx.out(lines.join('\n'));
  return 0;
}

async function runStatus(ctx: CommandContext, graph: TaskGraph): Promise<number> {
  const { rows, skippedRecords } = await status(graph);
  if (ctx.json) {
    printJson(ctx, {
      tasks: rows.map(({ assessment: _, ...r }) => r),
      skippedRecords,
    });
    return 0;
  }
  const lines: string[] = [];
  for (const step of graph.stepOrder) {
    const mine = rows.filter((r) => r.step === step);
    const counts = new Map<string, number>();
    for (const r of mine) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
    lines.push(`${step}: ${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')}`);
    for (const r of mine) {
      const attempts = r.attempts > 0 ? ` (${r.attempts} attempt${r.attempts > 1 ? 's' : ''})` : '';
      const job = r.job ? ` [job ${r.job}]` : '';
      lines.push(`  ${r.status.padEnd(8)} ${r.task}${attempts}${job}${r.error ? `: ${r.error}` : ''}`);
    }
  }
  if (lines.length > 0) ctx.out(lines.join('\n'));
  for (const s of skippedRecords) ctx.err(`ckpt flow: warning: record ${s} (passed over)`);
  return 0;
}

async function runWhy(ctx: CommandContext, graph: TaskGraph, step: string): Promise<number> {
  const { describeAssessment, diffComponents, FlowFileError } = await import('../../flow/index.js');
  if (!graph.steps.has(step)) {
    const { suggestSimilar } = await import('../../suggest.js');
    const near = suggestSimilar(step, [...graph.steps.keys()]);
    throw new FlowFileError(`No step \`${step}\` in ${graph.workflow.file}.`, {
      hint: near ? `Did you mean \`${near}\`?` : `Steps: ${[...graph.steps.keys()].join(', ')}.`,
    });
  }
  const { rows } = await status(graph);
  const mine = rows.filter((r) => r.step === step);
  if (ctx.json) {
    printJson(
      ctx,
      mine.map((r) => {
        const a = r.assessment;
        const lastOk = a.record ?? undefined;
        return {
          task: r.task,
          verdict: a.verdict,
          key: a.key,
          reasons: a.reasons,
          missing: a.missing,
          ...(lastOk ? { record: lastOk.seq } : {}),
          changes: a.reasons.flatMap((x) => (x.type === 'changed' ? x.changes : [])),
          ...(a.verdict === 'done'
            ? { sameAs: diffComponents(lastOk!.record.components, a.components) }
            : {}),
        };
      }),
    );
    return 0;
  }
  for (const r of mine) {
    const a = r.assessment;
    const head = a.verdict === 'done' ? 'skipped' : a.verdict === 'run' ? 'will run' : 'cannot run';
    ctx.out(`${r.task}: ${head}`);
    for (const line of describeAssessment(a)) ctx.out(`  ${line}`);
  }
  return 0;
}
