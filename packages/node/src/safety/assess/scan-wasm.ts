/**
 * The pre-filter's scan loop as a small WebAssembly function, assembled here from the listing
 * below (no build step, no binary in the repository). It walks a text's UTF-16 code units once and
 * writes the positions where the pre-filter has something to do: where EVENT[class before * K +
 * class] is STOP, or is GATED (a word start) and the five-letter trigger gate is open. It holds no
 * state between positions: the class before a position is always the class of the code unit
 * before it, so the JavaScript side (features.ts) handles these positions in order, skipping the
 * ones its handlers consumed, and reaches the same findings as a loop over every code unit.
 *
 * Two passes. The first takes sixteen code units at a time (SIMD, narrowed to bytes) and writes,
 * without a branch, every position that may have something to do — a superset: an ASCII letter
 * after a non-letter, an upper-case letter after a lower-case one, a digit, '@' '$' '<' '[', the
 * second of two '#'/'-', any non-ASCII code unit — compressing each 8-lane half of the mask
 * through a table of lane lists. The second reads the exact tables at each of those positions and
 * keeps the ones EVENT marks STOP, or GATED with the gate open.
 *
 * Memory layout (bytes): CLS (65,536 one-byte classes) at 0, GCODE (65,536 one-byte gate codes),
 * EVENT (K_COUNT² bytes), the gate (two halves of GATE2 32-bit words), the lane lists (256 x 8
 * 32-bit), zeros (the code unit before the text is 0), the text (its code units and sixteen 0
 * sentinels) and the positions (32-bit, one per code unit at most, and sixteen of slack).
 */
import { name, section, sleb, uleb, vec } from '../../wasm-encoding.ts'

const CLS_AT = 0
const GCODE_AT = 65_536
const EVENT_AT = 131_072
const GATE_AT = 131_328
const PAGE = 65_536

// Opcodes used (WebAssembly core 1.0).
const BLOCK = 0x02
const LOOP = 0x03
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
const I32_SUB = 0x6b
const I32_POPCNT = 0x69
const V128 = 0x7b
// SIMD: the 0xfd prefix, then the opcode as LEB128.
const simd = (op: number): number[] => [0xfd, ...uleb(op)]
const V128_LOAD = 0x00
const V128_STORE = 0x0b
const V128_CONST = 0x0c
const I8X16_SHUFFLE = 0x0d
const I32X4_SPLAT = 0x11
const I8X16_EQ = 0x23
const I8X16_LT_U = 0x26
const I16X8_GT_U = 0x32
const V128_AND = 0x4e
const V128_ANDNOT = 0x4f
const V128_OR = 0x50
const I8X16_BITMASK = 0x64
const I8X16_NARROW_I16X8_S = 0x65
const I8X16_NARROW_I16X8_U = 0x66
const I8X16_SUB = 0x71
const I32X4_ADD = 0xae

export interface ScanTables {
  cls: Uint8Array
  gcode: Uint8Array
  event: Uint8Array
  /** Row width of `event` (classes). */
  classes: number
  /** STOP's value in `event`. */
  stop: number
  /** GATED's value in `event` (a word start: it counts when the gate is open). */
  gated: number
  /** Where the gate's second half starts, in 32-bit words. */
  gate2: number
}

/** The module's bytes for the given table geometry. */
function assemble(t: ScanTables, lanesAt: number, minPages: number): Uint8Array<ArrayBuffer> {
  // Parameters: 0 text (byte address), 1 n (code units), 2 out (byte address). Locals: i32 3..13,
  // v128 14..21.
  const [text, n, out, i, m, p, mask, j, w, e, g1, g2, g3, c0] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
  ]
  const [b, upper, lower, letters, pairs, lastLetters, lastLower, lastPairs] = [
    14, 15, 16, 17, 18, 19, 20, 21,
  ]
  const get = (x: number): number[] => [LOCAL_GET, x]
  const set = (x: number): number[] => [LOCAL_SET, x]
  const c = (v: number): number[] => [I32_CONST, ...sleb(v)]
  const op = (x: number): number[] => simd(x)
  // memarg: alignment (log2), offset.
  const load8 = (offset: number): number[] => [I32_LOAD8_U, 0, ...uleb(offset)]
  const load16 = (offset: number): number[] => [I32_LOAD16_U, 1, ...uleb(offset)]
  const load32 = (offset: number): number[] => [I32_LOAD, 2, ...uleb(offset)]
  const vload = (offset: number): number[] => [...simd(V128_LOAD), 0, ...uleb(offset)]
  const vstore = (offset: number): number[] => [...simd(V128_STORE), 0, ...uleb(offset)]
  const bytes16 = (v: number): number[] => [
    ...simd(V128_CONST),
    ...Array.from({ length: 16 }, () => v & 0xff),
  ]
  const words8 = (v: number): number[] => [
    ...simd(V128_CONST),
    ...Array.from({ length: 8 }, () => [v & 0xff, v >>> 8]).flat(),
  ]
  // Byte lanes of `x` in [lo, lo + size): (x - lo) <u size.
  const inRange = (x: number, lo: number, size: number): number[] => [
    ...get(x),
    ...bytes16(lo),
    ...op(I8X16_SUB),
    ...bytes16(size),
    ...op(I8X16_LT_U),
  ]
  const eqByte = (x: number, v: number): number[] => [...get(x), ...bytes16(v), ...op(I8X16_EQ)]
  // The mask of the code unit before each lane: `now` shifted up by one lane, the last lane of
  // `last` (the previous sixteen) entering at lane 0.
  const before = (last: number, now: number): number[] => [
    ...get(last),
    ...get(now),
    ...op(I8X16_SHUFFLE),
    15,
    ...Array.from({ length: 15 }, (_, x) => 16 + x),
  ]
  // One 8-lane half of the mask (on the stack): out[m..m + 8) = base + its lane list, m += its
  // bit count (the lanes past the count are overwritten next).
  const emit = (half: number[], base: number[]): number[] => [
    ...half,
    ...set(e),
    ...get(out),
    ...get(m),
    ...c(2),
    I32_SHL,
    I32_ADD,
    ...set(j),
    ...get(j),
    ...get(e),
    ...c(5),
    I32_SHL,
    ...vload(lanesAt),
    ...base,
    ...op(I32X4_SPLAT),
    ...op(I32X4_ADD),
    ...vstore(0),
    ...get(j),
    ...get(e),
    ...c(5),
    I32_SHL,
    ...vload(lanesAt + 16),
    ...base,
    ...op(I32X4_SPLAT),
    ...op(I32X4_ADD),
    ...vstore(16),
    ...get(m),
    ...get(e),
    I32_POPCNT,
    I32_ADD,
    ...set(m),
  ]
  const gcodeOfUnit = (byteOffset: number): number[] => [...get(p), ...load16(byteOffset), ...load8(GCODE_AT)]
  const firstPass = [
    BLOCK,
    VOID,
    LOOP,
    VOID,
    ...get(i),
    ...get(n),
    I32_GE_U,
    BR_IF,
    1,
    ...get(text),
    ...get(i),
    ...c(1),
    I32_SHL,
    I32_ADD,
    ...set(p),
    // Non-ASCII code units: 16-bit compares narrowed to byte masks (left on the stack).
    ...get(p),
    ...vload(0),
    ...words8(127),
    ...op(I16X8_GT_U),
    ...get(p),
    ...vload(16),
    ...words8(127),
    ...op(I16X8_GT_U),
    ...op(I8X16_NARROW_I16X8_S),
    // The sixteen code units as bytes (non-ASCII ones saturate to 0 or 255: no class below).
    ...get(p),
    ...vload(0),
    ...get(p),
    ...vload(16),
    ...op(I8X16_NARROW_I16X8_U),
    ...set(b),
    ...inRange(b, 65, 26),
    ...set(upper),
    ...inRange(b, 97, 26),
    ...set(lower),
    // Digits, '@' '$' '<' '['.
    ...inRange(b, 48, 10),
    ...op(V128_OR),
    ...eqByte(b, 64),
    ...op(V128_OR),
    ...eqByte(b, 36),
    ...op(V128_OR),
    ...eqByte(b, 60),
    ...op(V128_OR),
    ...eqByte(b, 91),
    ...op(V128_OR),
    // A letter after a non-letter (word starts, leetspeak sandwiches).
    ...get(upper),
    ...get(lower),
    ...op(V128_OR),
    ...set(letters),
    ...get(letters),
    ...before(lastLetters, letters),
    ...op(V128_ANDNOT),
    ...op(V128_OR),
    // An upper-case letter after a lower-case one.
    ...get(upper),
    ...before(lastLower, lower),
    ...op(V128_AND),
    ...op(V128_OR),
    // '#' or '-' after '#' or '-'.
    ...eqByte(b, 35),
    ...eqByte(b, 45),
    ...op(V128_OR),
    ...set(pairs),
    ...get(pairs),
    ...before(lastPairs, pairs),
    ...op(V128_AND),
    ...op(V128_OR),
    ...op(I8X16_BITMASK),
    ...set(mask),
    ...get(letters),
    ...set(lastLetters),
    ...get(lower),
    ...set(lastLower),
    ...get(pairs),
    ...set(lastPairs),
    ...emit([...get(mask), ...c(255), I32_AND], get(i)),
    ...emit([...get(mask), ...c(8), I32_SHR_U], [...get(i), ...c(8), I32_ADD]),
    ...get(i),
    ...c(16),
    I32_ADD,
    ...set(i),
    BR,
    0,
    END,
    END,
  ]
  const secondPass = [
    BLOCK,
    VOID,
    LOOP,
    VOID,
    ...get(j),
    ...get(m),
    I32_GE_U,
    BR_IF,
    1,
    // i = out[j]; p = text + 2i
    ...get(out),
    ...get(j),
    ...c(2),
    I32_SHL,
    I32_ADD,
    ...load32(0),
    ...set(i),
    ...get(text),
    ...get(i),
    ...c(1),
    I32_SHL,
    I32_ADD,
    ...set(p),
    // e = EVENT[CLS[u[i - 1]] * classes + CLS[u[i]]] (the code unit before the text is 0)
    ...get(p),
    ...c(2),
    I32_SUB,
    ...load16(0),
    ...load8(CLS_AT),
    ...c(t.classes),
    I32_MUL,
    ...get(p),
    ...load16(0),
    LOCAL_TEE,
    c0,
    ...load8(CLS_AT),
    I32_ADD,
    ...load8(EVENT_AT),
    ...set(e),
    ...gcodeOfUnit(2),
    ...set(g1),
    ...gcodeOfUnit(4),
    ...set(g2),
    ...gcodeOfUnit(6),
    ...set(g3),
    // out[w] = i; w += e == STOP || (e == GATED && the gate is open): bit g3 of
    // gate[1 + (g0 << 10 | g1 << 5 | g2)] and bit g4 of gate[gate2 + 1 + (g1 << 10 | g2 << 5 | g3)].
    ...get(out),
    ...get(w),
    ...c(2),
    I32_SHL,
    I32_ADD,
    ...get(i),
    I32_STORE,
    2,
    0,
    ...get(w),
    ...get(e),
    ...c(t.stop),
    I32_EQ,
    ...get(e),
    ...c(t.gated),
    I32_EQ,
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
    I32_AND,
    ...c(1),
    I32_AND,
    I32_OR,
    I32_ADD,
    ...set(w),
    ...get(j),
    ...c(1),
    I32_ADD,
    ...set(j),
    BR,
    0,
    END,
    END,
  ]
  const code = [...firstPass, ...c(0), ...set(j), ...secondPass, ...get(w), END]
  const body = [
    ...vec([
      [11, I32],
      [8, V128],
    ]),
    ...code,
  ]
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
    const lanesAt = GATE_AT + gate.byteLength
    this.#textAt = lanesAt + 256 * 32 + 64
    const pages = Math.ceil((this.#textAt + 6 * 64 * 1024 + 64) / PAGE)
    const module = new WebAssembly.Module(assemble(tables, lanesAt, pages))
    const instance = new WebAssembly.Instance(module, {})
    this.#memory = instance.exports.memory as WebAssembly.Memory
    this.#scan = instance.exports.scan as (text: number, n: number, out: number) => number
    const mem = new Uint8Array(this.#memory.buffer)
    mem.set(tables.cls, CLS_AT)
    mem.set(tables.gcode, GCODE_AT)
    mem.set(tables.event, EVENT_AT)
    mem.set(new Uint8Array(gate.buffer, gate.byteOffset, gate.byteLength), GATE_AT)
    // Lane lists: for each 8-bit mask, the indices of its set bits in order (then zeros).
    const lists = new Int32Array(this.#memory.buffer, lanesAt, 256 * 8)
    for (let bits = 0; bits < 256; bits++) {
      let at = bits * 8
      for (let lane = 0; lane < 8; lane++) if ((bits & (1 << lane)) !== 0) lists[at++] = lane
    }
    this.#views(64 * 1024)
  }

  #views(capacity: number): void {
    const need = this.#textAt + capacity * 2 + 16 + (capacity + 16) * 4
    const have = this.#memory.buffer.byteLength
    if (need > have) this.#memory.grow(Math.ceil((need - have) / PAGE))
    this.#capacity = capacity
    this.#bytes = Buffer.from(this.#memory.buffer, this.#textAt, capacity * 2)
    this.units = new Uint16Array(this.#memory.buffer, this.#textAt, capacity)
    this.positions = new Int32Array(this.#memory.buffer, this.#outAt(), capacity + 16)
  }

  #outAt(): number {
    return this.#textAt + ((this.#capacity * 2 + 15) & ~15)
  }

  /** Loads `text` and returns how many positions were found (in `positions`). */
  run(text: string): number {
    const n = text.length
    if (n + 16 > this.#capacity) this.#views(n + 16)
    this.#bytes.write(text, 0, 'utf16le')
    this.units.fill(0, n, n + 16)
    return this.#scan(this.#textAt, n, this.#outAt())
  }
}
