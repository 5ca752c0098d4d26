// A 1-D heat-diffusion simulation that checkpoints with ckpt's library and resumes by itself.
//   node examples/node/heat.mjs [--store DIR] [--steps N] [--cells N]
// Kill it at any moment and start it again: it continues from its last checkpoint and ends
// with exactly the field an uninterrupted run gives (it prints the field's SHA-256).
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { openCheckpointer } from 'ckpt';

const { values } = parseArgs({
  options: {
    store: { type: 'string', default: process.env.CKPT_STORE ?? '.ckpt' },
    steps: { type: 'string', default: '3000' },
    cells: { type: 'string', default: String(1 << 20) },
    every: { type: 'string', default: '200' },
  },
});
const steps = Number(values.steps);
const cells = Number(values.cells);

const ck = await openCheckpointer({ dir: values.store, keep: 3, every: { steps: Number(values.every) } });
let state = await ck.restore();
if (state) {
  console.log(`heat: resumed from checkpoint #${ck.lastRestore.seq} at step ${state.step}`);
} else {
  const u = new Float64Array(cells);
  for (let i = 0; i < cells; i++) u[i] = Math.sin((i * Math.PI * 8) / cells) + (i > cells / 3 && i < cells / 2 ? 2 : 0);
  state = { step: 0, u, params: { alpha: 0.24 } };
  console.log(`heat: fresh start, ${cells} cells, ${steps} steps`);
}

const next = new Float64Array(cells);
while (state.step < steps) {
  const { u } = state;
  const a = state.params.alpha;
  for (let i = 1; i < cells - 1; i++) next[i] = u[i] + a * (u[i - 1] - 2 * u[i] + u[i + 1]);
  next[0] = u[0];
  next[cells - 1] = u[cells - 1];
  u.set(next);
  state.step++;
  if (ck.due(state.step)) {
    const { seq, stats } = await ck.save(state, { step: state.step });
    console.log(`heat: step ${state.step} saved as #${seq} (${stats.writtenBytes} new bytes, ${stats.durationMs} ms)`);
  }
}
await ck.close();
const digest = createHash('sha256').update(new Uint8Array(state.u.buffer)).digest('hex');
console.log(`heat: done at step ${state.step}; field sha256 ${digest}`);
