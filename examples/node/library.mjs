// A Node program that checkpoints with ckpt's library, run under `ckpt run`.
//   ckpt run -- node examples/node/library.mjs [STEPS [EVERY [WALKERS]]]
//   ckpt run --every 10m -- node examples/node/library.mjs 100000   # also save when ckpt asks
// Under `ckpt run` the library finds the store in CKPT_STORE, borrows the supervisor's writer
// lease, and makes due() true when the checkpoint signal (CKPT_SIGNAL) arrives. ckpt restarts
// the program after a crash; restore() returns the newest checkpoint that verifies. The result
// is the same however often the program was killed. It also runs without ckpt (store ./.ckpt).
import { createHash } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { openCheckpointer } from 'ckpt';

const steps = Number(process.argv[2] ?? 2000);
const every = Number(process.argv[3] ?? 200);
const walkers = Number(process.argv[4] ?? 200_000);

const ck = await openCheckpointer({ keep: 3, every: { steps: every } });
let state = await ck.restore();
if (state) {
  const restarts = process.env.CKPT_RESTARTS ?? '0';
  console.log(
    `library.mjs: pid ${process.pid}, resumed from checkpoint #${ck.lastRestore.seq} at step ${state.step} (restart ${restarts})`,
  );
} else {
  state = { step: 0, rng: 2024, position: new Float64Array(walkers) };
  console.log(`library.mjs: pid ${process.pid}, fresh start (${walkers} walkers, ${steps} steps)`);
}

// Random walkers: each step moves every walker by a pseudo-random amount (xorshift32).
while (state.step < steps) {
  let x = state.rng;
  const { position } = state;
  for (let i = 0; i < position.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    position[i] += x / 4294967296 - 0.5;
  }
  state.rng = x;
  state.step++;
  if (ck.due(state.step)) {
    // Returns once the state is copied; the commit runs while the loop goes on.
    const { committed } = await ck.saveAsync(state, { step: state.step });
    committed.then(
      ({ seq, step }) => console.log(`library.mjs: step ${step} saved as #${seq}`),
      () => {}, // close() below reports a failed save
    );
  }
  await yieldToEventLoop(); // lets the checkpoint signal's handler run
}
await ck.close();
const digest = createHash('sha256').update(new Uint8Array(state.position.buffer)).digest('hex');
console.log(`result: step=${state.step} rng=${state.rng} sha256=${digest}`);
