/**
 * The cut-candidate scan of chunker.ts ({@link scanCandidates}) as a WebAssembly loop: the same
 * gear hash, table, masks and output, about twice as fast as the JavaScript loop here.
 *
 * The module is assembled below from its instructions (no build step, no binary in the tree).
 * Memory: the gear table at 0 (256 × i32), the candidate count at 1024 and the hash at 1028
 * (both written when `scan` returns), up to `cap` candidates from 1032, the data from 65536.
 * `scan(p, end, h)` hashes bytes p..end-1 on from hash `h`, stores each candidate position (as
 * `~p` when the strict mask holds too), and returns where it stopped: `end`, or earlier when the
 * candidate buffer is full (the caller drains it and calls again).
 *
 * NOTE: self-contained (no imports, no module-level names), because its source text also runs in
 * worker threads (cdc-scan.ts).
 *
 * @param cap candidates stored per call before the caller drains them (small only in tests).
 * @returns a scan function with the signature of {@link scanCandidates}, or undefined when this
 * runtime has no WebAssembly.
 */
export function createWasmScanner(
  cap = 4096,
): ((data: Uint8Array, from: number, to: number) => Int32Array) | undefined {
  const wasm = (
    globalThis as {
      WebAssembly?: {
        Memory: new (limits: { initial: number; maximum: number }) => { buffer: ArrayBuffer };
        Module: new (bytes: Uint8Array) => object;
        Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
      };
    }
  ).WebAssembly;
  if (!wasm) return undefined;
  const GEAR_AT = 0;
  const COUNT_AT = 1024;
  const H_AT = 1028;
  const OUT_AT = 1032;
  const CAP = cap;
  const DATA_AT = 65536;
  const MAX_BLOCK = (16 << 20) + 64 * 1024;
  const LOOSE = 0xffffc000 | 0;
  const STRICT = 0xfffffc00 | 0;
  const sleb = (value: number): number[] => {
    const out: number[] = [];
    let v = value | 0;
    for (;;) {
      const byte = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) return [...out, byte];
      out.push(byte | 0x80);
    }
  };
  const uleb = (value: number): number[] => {
    const out: number[] = [];
    let v = value >>> 0;
    do {
      const byte = v & 0x7f;
      v >>>= 7;
      out.push(v === 0 ? byte : byte | 0x80);
    } while (v !== 0);
    return out;
  };
  const i32 = (value: number): number[] => [0x41, ...sleb(value)];
  const [get, set, load8, load, store] = [0x20, 0x21, 0x2d, 0x28, 0x36];
  const [shl, add, and, xor, eqz, eq, geU, select] = [0x74, 0x6a, 0x71, 0x73, 0x45, 0x46, 0x4f, 0x1b];
  const [block, loop, ifVoid, end, br, brIf] = [0x02, 0x03, 0x04, 0x0b, 0x0c, 0x0d];
  // Locals: 0 p, 1 end, 2 h (parameters), 3 n (candidates stored in this call).
  const code = [
    block,
    0x40,
    loop,
    0x40,
    get,
    0,
    get,
    1,
    geU,
    brIf,
    1, // p >= end: done
    get,
    2,
    ...i32(1),
    shl, // h << 1
    get,
    0,
    load8,
    0,
    0,
    ...i32(2),
    shl,
    load,
    2,
    GEAR_AT, // gear[data[p]]
    add,
    set,
    2,
    get,
    2,
    ...i32(LOOSE),
    and,
    eqz,
    ifVoid,
    0x40,
    get,
    3,
    ...i32(2),
    shl,
    ...i32(OUT_AT),
    add, // &out[n]
    get,
    0,
    ...i32(-1),
    xor,
    get,
    0,
    get,
    2,
    ...i32(STRICT),
    and,
    eqz,
    select, // strict ? ~p : p
    store,
    2,
    0,
    get,
    3,
    ...i32(1),
    add,
    set,
    3,
    get,
    3,
    ...i32(CAP),
    eq,
    ifVoid,
    0x40,
    get,
    0,
    ...i32(1),
    add,
    set,
    0,
    br,
    3, // buffer full: stop after this byte
    end,
    end,
    get,
    0,
    ...i32(1),
    add,
    set,
    0,
    br,
    0,
    end,
    end,
    ...i32(COUNT_AT),
    get,
    3,
    store,
    2,
    0,
    ...i32(H_AT),
    get,
    2,
    store,
    2,
    0,
    get,
    0,
    end,
  ];
  const body = [0x01, 0x01, 0x7f, ...code];
  const section = (id: number, content: number[]): number[] => [id, ...uleb(content.length), ...content];
  const pages = Math.ceil((DATA_AT + MAX_BLOCK) / 65536);
  const text = (s: string): number[] => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
  const bytes = new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x01, 0x7f]),
    ...section(2, [0x01, ...text('m'), ...text('mem'), 0x02, 0x00, ...uleb(pages)]),
    ...section(3, [0x01, 0x00]),
    ...section(7, [0x01, ...text('scan'), 0x00, 0x00]),
    ...section(10, [0x01, ...uleb(body.length), ...body]),
  ]);
  let memory: { buffer: ArrayBuffer };
  let scan: (p: number, end: number, h: number) => number;
  try {
    memory = new wasm.Memory({ initial: pages, maximum: pages });
    const instance = new wasm.Instance(new wasm.Module(bytes), { m: { mem: memory } });
    scan = instance.exports.scan as typeof scan;
  } catch {
    return undefined;
  }
  const heap32 = new Int32Array(memory.buffer);
  const heap8 = new Uint8Array(memory.buffer);
  let x = 0x9e3779b9;
  for (let i = 0; i < 256; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    heap32[(GEAR_AT >> 2) + i] = x | 0;
  }
  const fallbackFrom = (data: Uint8Array, from: number, to: number, h0: number, out: number[]): void => {
    let h = h0;
    for (let i = from; i < to; i++) {
      h = ((h << 1) + heap32[data[i]!]!) | 0;
      if ((h & LOOSE) === 0) out.push((h & STRICT) === 0 ? ~i : i);
    }
  };
  return (data: Uint8Array, from: number, to: number): Int32Array => {
    const warm = Math.max(0, from - 31);
    let h = 0;
    for (let i = warm; i < from; i++) h = ((h << 1) + heap32[data[i]!]!) | 0;
    const out: number[] = [];
    // Blocks larger than the module's memory are scanned in JavaScript (never the case in ckpt).
    if (to - warm > MAX_BLOCK) {
      fallbackFrom(data, from, to, h, out);
      return Int32Array.from(out);
    }
    heap8.set(data.subarray(warm, to), DATA_AT);
    const shift = warm - DATA_AT;
    let p = DATA_AT + (from - warm);
    const stop = DATA_AT + (to - warm);
    while (p < stop) {
      p = scan(p, stop, h);
      h = heap32[H_AT >> 2]!;
      const n = heap32[COUNT_AT >> 2]!;
      for (let k = 0; k < n; k++) {
        const e = heap32[(OUT_AT >> 2) + k]!;
        out.push(e < 0 ? ~(~e + shift) : e + shift);
      }
    }
    return Int32Array.from(out);
  };
}
