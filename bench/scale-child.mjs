// One side of the scaling rows of bench/store.mjs, in a process of its own so that its peak RSS
// is its own: `save GIB DIR` saves GIB GiB of random float64 (as 1 GiB arrays) into a new store;
// `restore GIB DIR` restores it. Prints {ms, overheadMiB}: the time, and the peak RSS beyond the state.
import { openCheckpointer } from '../dist/index.js';
import { GiB, MiB, now, randomFloat64 } from './lib.mjs';

const [mode, gibText, dir] = process.argv.slice(2);
const gib = Number(gibText);
const stateBytes = gib * GiB;
let ms;
if (mode === 'save') {
  const fields = Array.from({ length: gib }, (_, i) => randomFloat64(GiB / 8, 77 + i));
  const ck = await openCheckpointer({ dir, compression: 'off' });
  const t = now();
  await ck.save({ fields }, { step: 1 });
  ms = now() - t;
  await ck.close();
} else {
  const ck = await openCheckpointer({ dir });
  const t = now();
  const got = await ck.restore();
  ms = now() - t;
  await ck.close();
  if (got.fields.length !== gib) throw new Error('restore returned the wrong state');
}
const peak = process.resourceUsage().maxRSS * 1024;
console.log(JSON.stringify({ ms, overheadMiB: (peak - stateBytes) / MiB }));
