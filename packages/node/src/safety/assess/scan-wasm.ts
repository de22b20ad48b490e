/**
 * The pre-filter's scan loop as a small WebAssembly function, assembled here from the listing
 * below (no build step, no binary in the repository). It walks a text's UTF-16 code units once and
 * writes the positions where the pre-filter has something to do: where EVENT[class before * K +
 * class] is STOP, or is GATED (a word start) and the five-letter trigger gate is open. It holds no
 * state between positions: the class before a position is always the class of the code unit
 * before it, so the JavaScript side (features.ts) handles these positions in order, skipping the
 * ones its handlers consumed, and reaches the same findings as a loop over every code unit.
 *
 * Memory layout (bytes): CLS (65,536 one-byte classes) at 0, GCODE (65,536 one-byte gate codes),
 * EVENT (K_COUNT² bytes), the gate (two halves of GATE2 32-bit words), then the text (its code
 * units and four 0 sentinels) and the positions found (32-bit, one per code unit at most, and one
 * more for the caller's end marker).
 */

const CLS_AT = 0
const GCODE_AT = 65_536
const EVENT_AT = 131_072
const GATE_AT = 131_328
const PAGE = 65_536

// Opcodes used (WebAssembly core 1.0).
const BLOCK = 0x02
const LOOP = 0x03
const IF = 0x04
const ELSE = 0x05
const END = 0x0b
const BR = 0x0c
const BR_IF = 0x0d
const VOID = 0x40
const I32 = 0x7f
const LOCAL_GET = 0x20
const LOCAL_SET = 0x21
const LOCAL_TEE = 0x22
const I32_LOAD = 0x28
const I32_LOAD8_U = 0x2d
const I32_LOAD16_U = 0x2f
const I32_STORE = 0x36
const I32_CONST = 0x41
const I32_EQ = 0x46
const I32_GE_U = 0x4f
const I32_ADD = 0x6a
const I32_MUL = 0x6c
const I32_AND = 0x71
const I32_OR = 0x72
const I32_SHL = 0x74
const I32_SHR_U = 0x76

function uleb(n: number): number[] {
  const out: number[] = []
  do {
    let b = n & 0x7f
    n >>>= 7
    if (n !== 0) b |= 0x80
    out.push(b)
  } while (n !== 0)
  return out
}

function sleb(n: number): number[] {
  const out: number[] = []
  for (;;) {
    const b = n & 0x7f
    n >>= 7
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b)
      return out
    }
    out.push(b | 0x80)
  }
}

const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body]
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()]
const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))]

export interface ScanTables {
  cls: Uint8Array
  gcode: Uint8Array
  event: Uint8Array
  /** Row width of `event` (classes). */
  classes: number
  /** STOP's value in `event` (anything else non-zero is a gated word start). */
  stop: number
  /** Where the gate's second half starts, in 32-bit words. */
  gate2: number
}

/** The module's bytes for the given table geometry. */
function assemble(t: ScanTables, minPages: number): Uint8Array<ArrayBuffer> {
  // Parameters: 0 text (byte address), 1 n (code units), 2 out (byte address). Locals 3..12.
  const [text, n, out, i, prev, k, e, m, c0, g1, g2, g3, p] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
  const get = (x: number): number[] => [LOCAL_GET, x]
  const set = (x: number): number[] => [LOCAL_SET, x]
  const c = (v: number): number[] => [I32_CONST, ...sleb(v)]
  // memarg: alignment (log2), offset.
  const load8 = (offset: number): number[] => [I32_LOAD8_U, 0, ...uleb(offset)]
  const load16 = (offset: number): number[] => [I32_LOAD16_U, 1, ...uleb(offset)]
  const load32 = (offset: number): number[] => [I32_LOAD, 2, ...uleb(offset)]
  const gcodeOfUnit = (byteOffset: number): number[] => [...get(p), ...load16(byteOffset), ...load8(GCODE_AT)]
  const code = [
    BLOCK,
    VOID,
    LOOP,
    VOID,
    // while (i < n)
    ...get(i),
    ...get(n),
    I32_GE_U,
    BR_IF,
    1,
    // p = text + 2i; c0 = u[i]; k = CLS[c0]
    ...get(text),
    ...get(i),
    ...c(1),
    I32_SHL,
    I32_ADD,
    ...set(p),
    ...get(p),
    ...load16(0),
    ...set(c0),
    ...get(c0),
    ...load8(CLS_AT),
    ...set(k),
    // e = EVENT[prev * classes + k]
    ...get(prev),
    ...c(t.classes),
    I32_MUL,
    ...get(k),
    I32_ADD,
    ...load8(EVENT_AT),
    LOCAL_TEE,
    e,
    IF,
    VOID,
    ...get(e),
    ...c(t.stop),
    I32_EQ,
    IF,
    I32,
    ...c(1),
    ELSE,
    // The gate: bit g3 of gate[1 + (g0 << 10 | g1 << 5 | g2)] and bit g4 of
    // gate[gate2 + 1 + (g1 << 10 | g2 << 5 | g3)] (the text ends in four 0 sentinels).
    ...gcodeOfUnit(2),
    ...set(g1),
    ...gcodeOfUnit(4),
    ...set(g2),
    ...gcodeOfUnit(6),
    ...set(g3),
    ...get(c0),
    ...load8(GCODE_AT),
    ...c(10),
    I32_SHL,
    ...get(g1),
    ...c(5),
    I32_SHL,
    I32_OR,
    ...get(g2),
    I32_OR,
    ...c(2),
    I32_SHL,
    ...load32(GATE_AT + 4),
    ...get(g3),
    I32_SHR_U,
    ...get(g1),
    ...c(10),
    I32_SHL,
    ...get(g2),
    ...c(5),
    I32_SHL,
    I32_OR,
    ...get(g3),
    I32_OR,
    ...c(2),
    I32_SHL,
    ...load32(GATE_AT + 4 * (t.gate2 + 1)),
    ...gcodeOfUnit(8),
    I32_SHR_U,
    I32_AND,
    ...c(1),
    I32_AND,
    END,
    IF,
    VOID,
    // out[m++] = i
    ...get(out),
    ...get(m),
    ...c(2),
    I32_SHL,
    I32_ADD,
    ...get(i),
    I32_STORE,
    2,
    0,
    ...get(m),
    ...c(1),
    I32_ADD,
    ...set(m),
    END,
    END,
    ...get(k),
    ...set(prev),
    ...get(i),
    ...c(1),
    I32_ADD,
    ...set(i),
    BR,
    0,
    END,
    END,
    ...get(m),
    END,
  ]
  const body = [...vec([[10, I32]]), ...code]
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32]]), ...vec([[I32]])]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0x00, ...uleb(minPages)]])),
    ...section(
      7,
      vec([
        [...name('scan'), 0x00, 0],
        [...name('memory'), 0x02, 0],
      ]),
    ),
    ...section(10, vec([[...uleb(body.length), ...body]])),
  ]
  return new Uint8Array(bytes)
}

/** The scan over one text at a time; the text is written into `units` (grown on demand). */
export class WasmScan {
  readonly #memory: WebAssembly.Memory
  readonly #scan: (text: number, n: number, out: number) => number
  readonly #textAt: number
  /** Code units the text area holds (sentinels included). */
  #capacity = 0
  #bytes!: Buffer
  /** The text's code units (index 0 is the text's first). */
  units!: Uint16Array
  /** The positions found, then whatever the caller appends. */
  positions!: Int32Array

  constructor(tables: ScanTables, gate: Int32Array) {
    this.#textAt = GATE_AT + gate.byteLength + 64
    const pages = Math.ceil((this.#textAt + 6 * 64 * 1024 + 64) / PAGE)
    const module = new WebAssembly.Module(assemble(tables, pages))
    const instance = new WebAssembly.Instance(module, {})
    this.#memory = instance.exports.memory as WebAssembly.Memory
    this.#scan = instance.exports.scan as (text: number, n: number, out: number) => number
    const mem = new Uint8Array(this.#memory.buffer)
    mem.set(tables.cls, CLS_AT)
    mem.set(tables.gcode, GCODE_AT)
    mem.set(tables.event, EVENT_AT)
    mem.set(new Uint8Array(gate.buffer, gate.byteOffset, gate.byteLength), GATE_AT)
    this.#views(64 * 1024)
  }

  #views(capacity: number): void {
    const need = this.#textAt + capacity * 2 + 16 + (capacity + 1) * 4
    const have = this.#memory.buffer.byteLength
    if (need > have) this.#memory.grow(Math.ceil((need - have) / PAGE))
    this.#capacity = capacity
    this.#bytes = Buffer.from(this.#memory.buffer, this.#textAt, capacity * 2)
    this.units = new Uint16Array(this.#memory.buffer, this.#textAt, capacity)
    this.positions = new Int32Array(this.#memory.buffer, this.#outAt(), capacity + 1)
  }

  #outAt(): number {
    return this.#textAt + ((this.#capacity * 2 + 15) & ~15)
  }

  /** Loads `text` and returns how many positions were found (in `positions`). */
  run(text: string): number {
    const n = text.length
    if (n + 4 > this.#capacity) this.#views(n + 4)
    this.#bytes.write(text, 0, 'utf16le')
    const u = this.units
    u[n] = 0
    u[n + 1] = 0
    u[n + 2] = 0
    u[n + 3] = 0
    return this.#scan(this.#textAt, n, this.#outAt())
  }
}
