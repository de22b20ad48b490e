/**
 * The pre-filter's scan loop as a small WebAssembly function, assembled here from the listing
 * below (no build step, no binary in the repository). It walks a text's UTF-16 code units once and
 * writes the positions where the pre-filter has something to do: where EVENT[class before * K +
 * class] is STOP, or is GATED (a word start) and the five-letter trigger gate is open. It holds no
 * state between positions: the class before a position is always the class of the code unit
 * before it, so the JavaScript side (features.ts) handles these positions in order, skipping the
 * ones its handlers consumed, and reaches the same findings as a loop over every code unit.
 *
 * Two passes. The first takes sixteen code units at a time (SIMD, narrowed to bytes) and stores,
 * without a branch, a 16-bit mask per sixteen code units of every position that may have
 * something to do — a superset: a digit, '@' '$' '<' '[', the second of two '#'/'-', an upper-case
 * letter after a lower-case one, any non-ASCII code unit, and a letter after a non-letter when it
 * follows a digit, '@' or '$' or when the word filter (wordFilter: three 32-byte bucket tables
 * looked up with swizzles, derived from the gate) lets its first three code units in. The second
 * walks the set bits of those masks in order and keeps the positions whose exact tables say so:
 * EVENT marks them STOP, or GATED with the five-letter gate open. Vector constants are set once
 * before the loops.
 *
 * Memory layout (bytes): CLS (65,536 one-byte classes) at 0, GCODE (65,536 one-byte gate codes),
 * EVENT and ACT (K_COUNT² bytes each), the gate (two halves of GATE2 32-bit words), 64 zero bytes (the code
 * unit before the text is 0), the text (its code units and eighteen 0 sentinels), the positions
 * (32-bit, one per code unit at most, and sixteen of slack), each position's ACT (a byte) and the
 * masks (16-bit, one per sixteen code units, and a 64-bit word of slack).
 */
import { name, section, sleb, uleb, vec } from '../../wasm-encoding.ts'

const CLS_AT = 0
const GCODE_AT = 65_536
const EVENT_AT = 131_072
const ACT_AT = 131_200
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
const I32_STORE8 = 0x3a
const I32_STORE16 = 0x3b
const I64 = 0x7e
const I64_LOAD = 0x29
const I64_STORE = 0x37
const I64_CONST = 0x42
const I64_EQZ = 0x50
const I64_CTZ = 0x7a
const I64_SUB = 0x7d
const I64_AND = 0x83
const I32_WRAP_I64 = 0xa7
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
const V128 = 0x7b
// SIMD: the 0xfd prefix, then the opcode as LEB128.
const simd = (op: number): number[] => [0xfd, ...uleb(op)]
const V128_LOAD = 0x00
const V128_STORE = 0x0b
const V128_CONST = 0x0c
const I8X16_SHUFFLE = 0x0d
const I8X16_SWIZZLE = 0x0e
const I8X16_EQ = 0x23
const V128_AND = 0x4e
const V128_ANDNOT = 0x4f
const V128_OR = 0x50
const I8X16_BITMASK = 0x64
const I8X16_NARROW_I16X8_S = 0x65
const I8X16_NARROW_I16X8_U = 0x66
const I8X16_SUB = 0x71
const I8X16_SUB_SAT_U = 0x73
const I8X16_MIN_U = 0x77

export interface ScanTables {
  cls: Uint8Array
  gcode: Uint8Array
  event: Uint8Array
  /** What each position calls for (ACT, same geometry as `event`): written next to each position. */
  act: Uint8Array
  /** Row width of `event` (classes). */
  classes: number
  /** STOP's value in `event`. */
  stop: number
  /** GATED's value in `event` (a word start: it counts when the gate is open). */
  gated: number
  /** Where the gate's second half starts, in 32-bit words. */
  gate2: number
}

/**
 * The word-start filter of the first pass: three 32-byte tables (first, second and third code
 * unit of a word) of bucket bits. A word start passes when some bucket holds its first letter and
 * its next two code units; the trigger gate's first half (which three gate codes a phrase may start
 * with) is a subset of what passes, so the filter only thins out the candidates the exact check
 * then sees. Indices: an ASCII letter is 1..26 in either case; any other code unit is 0 or 27
 * (both entries carry the buckets that allow a non-letter there). First letters are grouped into
 * at most eight buckets, merged greedily where they add the fewest false triples, weighted by how
 * often letters open and continue English words (so "the", "to ", "and" stay out).
 */
export function wordFilter(gate: Int32Array): Uint8Array {
  // English letter frequencies (%): at a word start, and anywhere in a word; a non-letter after a
  // word's first or second letter (mostly a space) weighs 18.
  const INITIAL = [
    11.7, 4.4, 5.2, 3.2, 2.8, 4, 1.6, 4.2, 7, 0.5, 0.6, 2.4, 3.8, 2.3, 7.6, 4.3, 0.2, 2.8, 7.5, 16, 1.2, 0.8,
    5.5, 0.05, 0.8, 0.05,
  ]
  const ANY = [
    8.2, 1.5, 2.8, 4.3, 12.7, 2.2, 2, 6.1, 7, 0.15, 0.8, 4, 2.4, 6.7, 7.5, 1.9, 0.1, 6, 6.3, 9.1, 2.8, 1, 2.4,
    0.15, 2, 0.07,
  ]
  const weight = (g: number): number => (g >= 1 && g <= 26 ? (ANY[g - 1] as number) : 18)
  // The triples the gate's first half allows (for some fourth code unit), per first letter.
  interface Bucket {
    first: Set<number>
    second: Set<number>
    third: Set<number>
  }
  const allowed = new Set<number>()
  let buckets: Bucket[] = []
  for (let a = 1; a <= 26; a++) {
    const bucket: Bucket = { first: new Set([a]), second: new Set(), third: new Set() }
    for (let g1 = 0; g1 < 32; g1++) {
      for (let g2 = 0; g2 < 32; g2++) {
        if (gate[1 + ((a << 10) | (g1 << 5) | g2)] === 0) continue
        allowed.add((a << 10) | (g1 << 5) | g2)
        bucket.second.add(g1)
        bucket.third.add(g2)
      }
    }
    if (bucket.second.size > 0) buckets.push(bucket)
  }
  const falseWeight = (b: Bucket): number => {
    let sum = 0
    for (const a of b.first)
      for (const g1 of b.second)
        for (const g2 of b.third)
          if (!allowed.has((a << 10) | (g1 << 5) | g2))
            sum += (INITIAL[a - 1] as number) * weight(g1) * weight(g2)
    return sum
  }
  const merge = (x: Bucket, y: Bucket): Bucket => ({
    first: new Set([...x.first, ...y.first]),
    second: new Set([...x.second, ...y.second]),
    third: new Set([...x.third, ...y.third]),
  })
  while (buckets.length > 8) {
    let best = Number.POSITIVE_INFINITY
    let pick: [number, number] = [0, 1]
    for (let x = 0; x < buckets.length; x++) {
      for (let y = x + 1; y < buckets.length; y++) {
        const bx = buckets[x] as Bucket
        const by = buckets[y] as Bucket
        const added = falseWeight(merge(bx, by)) - falseWeight(bx) - falseWeight(by)
        if (added < best) {
          best = added
          pick = [x, y]
        }
      }
    }
    const [x, y] = pick
    const merged = merge(buckets[x] as Bucket, buckets[y] as Bucket)
    buckets = buckets.filter((_, z) => z !== x && z !== y)
    buckets.push(merged)
  }
  const tables = new Uint8Array(3 * 32)
  const index = (g: number): number[] => (g >= 1 && g <= 26 ? [g] : [0, 27])
  buckets.forEach((b, bit) => {
    for (const a of b.first) tables[a] = (tables[a] as number) | (1 << bit)
    for (const g of b.second)
      for (const x of index(g)) tables[32 + x] = (tables[32 + x] as number) | (1 << bit)
    for (const g of b.third)
      for (const x of index(g)) tables[64 + x] = (tables[64 + x] as number) | (1 << bit)
  })
  return tables
}

/** The module's bytes for the given table geometry. */
function assemble(t: ScanTables, filter: Uint8Array, minPages: number): Uint8Array<ArrayBuffer> {
  // Parameters: 0 text (byte address), 1 n (code units), 2 out (byte address), 3 acts (byte
  // address), 4 bitmap (byte address: a 16-bit mask per sixteen code units). Locals: i32 5..16,
  // i64 17, v128 18..31 and the constants after them.
  const [text, n, out, acts, bitmap, i, p, w, e, g1, g2, g3, c0, k, base, end, x] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
  ]
  const bits = 17
  const [b, upper, lower, letters, pairs, lastLetters, lastLower, lastPairs, signs, lastSigns, temp] = [
    18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
  ]
  // The next sixteen code units as bytes, and the word filter's indices of these and the next.
  const [bNext, idx, idxNext] = [29, 30, 31]
  const get = (x: number): number[] => [LOCAL_GET, x]
  const set = (x: number): number[] => [LOCAL_SET, x]
  const c = (v: number): number[] => [I32_CONST, ...sleb(v)]
  const op = (x: number): number[] => simd(x)
  // memarg: alignment (log2), offset.
  const load8 = (offset: number): number[] => [I32_LOAD8_U, 0, ...uleb(offset)]
  const load16 = (offset: number): number[] => [I32_LOAD16_U, 1, ...uleb(offset)]
  const load32 = (offset: number): number[] => [I32_LOAD, 2, ...uleb(offset)]
  const vload = (offset: number): number[] => [...simd(V128_LOAD), 0, ...uleb(offset)]
  // Vector constants live in locals set once before the loops (a v128.const inside a loop is
  // rebuilt on every iteration).
  const constants = new Map<string, { local: number; bytes: number[] }>()
  const konst = (bytes: number[]): number[] => {
    const key = bytes.join(',')
    let entry = constants.get(key)
    if (entry === undefined) {
      entry = { local: idxNext + 1 + constants.size, bytes }
      constants.set(key, entry)
    }
    return get(entry.local)
  }
  const bytes16 = (v: number): number[] => konst(Array.from({ length: 16 }, () => v & 0xff))
  // Byte lanes of `x` in [lo, lo + size): (x - lo) minus (size - 1), saturating at 0, is 0.
  const inRange = (x: number, lo: number, size: number): number[] => [
    ...get(x),
    ...bytes16(lo),
    ...op(I8X16_SUB),
    ...bytes16(size - 1),
    ...op(I8X16_SUB_SAT_U),
    ...bytes16(0),
    ...op(I8X16_EQ),
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
  // Sixteen code units from byte offset `offset` past p, as bytes (non-ASCII ones saturate to 0 or
  // 255: no class below).
  const unitsAt = (offset: number): number[] => [
    ...get(p),
    ...vload(offset),
    ...get(p),
    ...vload(offset + 16),
    ...op(I8X16_NARROW_I16X8_U),
  ]
  // The word filter's bucket bits from table `x` for the bytes `bytes` leaves on the stack: index
  // (byte | 0x20) - 0x60, 1..26 for an ASCII letter, capped at 27 for any other byte; looked up
  // in the table's two 16-byte halves (a swizzle gives 0 for an index past 15).
  const half = (x: number, h: number): number[] =>
    konst(Array.from(filter.subarray(x * 32 + h * 16, x * 32 + h * 16 + 16)))
  // The word filter's index of each byte of the sixteen units at byte offset `offset` past p:
  // (byte | 0x20) - 0x60, 1..26 for an ASCII letter, capped at 27 for any other byte.
  const indexAt = (offset: number): number[] => [
    ...unitsAt(offset),
    ...bytes16(0x20),
    ...op(V128_OR),
    ...bytes16(0x60),
    ...op(I8X16_SUB),
    ...bytes16(27),
    ...op(I8X16_MIN_U),
  ]
  // Lanes `from`.. of `cur` then `next` (the code unit `from` places after each lane).
  const ahead = (cur: number, next: number, from: number): number[] => [
    ...get(cur),
    ...get(next),
    ...op(I8X16_SHUFFLE),
    ...Array.from({ length: 16 }, (_, x) => x + from),
  ]
  // The bucket bits of word-filter table `x` for the indices on the stack, looked up in the
  // table's two 16-byte halves (a swizzle gives 0 for an index past 15).
  const lookup = (x: number, indices: number[]): number[] => [
    ...half(x, 0),
    ...indices,
    LOCAL_TEE,
    temp,
    ...op(I8X16_SWIZZLE),
    ...half(x, 1),
    ...get(temp),
    ...bytes16(16),
    ...op(I8X16_SUB),
    ...op(I8X16_SWIZZLE),
    ...op(V128_OR),
  ]
  const firstPass = [
    ...get(text),
    ...set(p),
    ...unitsAt(0),
    ...set(bNext),
    ...indexAt(0),
    ...set(idxNext),
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
    // Non-ASCII code units: the top bit of the sixteen narrowed with signed saturation (0x80 for
    // 0x8000 and up) or with unsigned saturation (0x80 and up for 0x80..0x7fff); only top bits
    // count in the mask built on it (left on the stack).
    ...get(p),
    ...vload(0),
    ...get(p),
    ...vload(16),
    ...op(I8X16_NARROW_I16X8_S),
    ...get(bNext),
    LOCAL_TEE,
    b,
    ...op(V128_OR),
    // The next sixteen (their first two are this block's look ahead; past the text's sentinels
    // they only meet lanes that hold no letter).
    ...unitsAt(32),
    ...set(bNext),
    ...get(idxNext),
    ...set(idx),
    ...indexAt(32),
    ...set(idxNext),
    ...inRange(b, 65, 26),
    ...set(upper),
    ...inRange(b, 97, 26),
    ...set(lower),
    // Digits, '@' '$' (after which a letter is a leetspeak sandwich or a word start), '<' '['.
    ...inRange(b, 48, 10),
    ...eqByte(b, 64),
    ...op(V128_OR),
    ...eqByte(b, 36),
    ...op(V128_OR),
    LOCAL_TEE,
    signs,
    ...op(V128_OR),
    ...eqByte(b, 60),
    ...op(V128_OR),
    ...eqByte(b, 91),
    ...op(V128_OR),
    // A letter after a non-letter: after a digit, '@' or '$' always; else when the word filter
    // lets its first three code units in.
    ...get(upper),
    ...get(lower),
    ...op(V128_OR),
    ...set(letters),
    ...get(letters),
    ...before(lastLetters, letters),
    ...op(V128_ANDNOT),
    ...lookup(0, get(idx)),
    ...lookup(1, ahead(idx, idxNext, 1)),
    ...op(V128_AND),
    ...lookup(2, ahead(idx, idxNext, 2)),
    ...op(V128_AND),
    ...bytes16(0),
    ...op(I8X16_EQ),
    ...before(lastSigns, signs),
    ...op(V128_ANDNOT),
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
    // bitmap[i / 16] = the lanes' mask
    ...set(temp),
    ...get(bitmap),
    ...get(i),
    ...c(3),
    I32_SHR_U,
    I32_ADD,
    ...get(temp),
    ...op(I8X16_BITMASK),
    I32_STORE16,
    1,
    0,
    ...get(letters),
    ...set(lastLetters),
    ...get(lower),
    ...set(lastLower),
    ...get(pairs),
    ...set(lastPairs),
    ...get(signs),
    ...set(lastSigns),
    ...get(i),
    ...c(16),
    I32_ADD,
    ...set(i),
    BR,
    0,
    END,
    END,
    // Clear the masks after the last one written, up to the next 64-bit word.
    ...get(bitmap),
    ...get(i),
    ...c(3),
    I32_SHR_U,
    I32_ADD,
    ...set(end),
    ...get(end),
    I64_CONST,
    0,
    I64_STORE,
    1,
    0,
  ]
  // The exact check of one candidate i (p = text + 2i): keep it (out[w++] = i) when EVENT of
  // (class before, class) is STOP, or GATED with the gate open.
  const check = [
    ...get(text),
    ...get(i),
    ...c(1),
    I32_SHL,
    I32_ADD,
    ...set(p),
    // x = CLS[u[i - 1]] * classes + CLS[u[i]] (the code unit before the text is 0); e = EVENT[x];
    // acts[w] = ACT[x]
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
    LOCAL_TEE,
    x,
    ...load8(EVENT_AT),
    ...set(e),
    ...get(acts),
    ...get(w),
    I32_ADD,
    ...get(x),
    ...load8(ACT_AT),
    I32_STORE8,
    0,
    0,
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
  ]
  function gcodeOfUnit(byteOffset: number): number[] {
    return [...get(p), ...load16(byteOffset), ...load8(GCODE_AT)]
  }
  // Each 64-bit word of the bitmap (64 code units), then each set bit of it in order.
  const secondPass = [
    ...get(bitmap),
    ...set(k),
    BLOCK,
    VOID,
    LOOP,
    VOID,
    ...get(k),
    ...get(end),
    I32_GE_U,
    BR_IF,
    1,
    ...get(k),
    I64_LOAD,
    3,
    0,
    ...set(bits),
    ...get(k),
    ...get(bitmap),
    I32_SUB,
    ...c(3),
    I32_SHL,
    ...set(base),
    BLOCK,
    VOID,
    LOOP,
    VOID,
    ...get(bits),
    I64_EQZ,
    BR_IF,
    1,
    ...get(base),
    ...get(bits),
    I64_CTZ,
    I32_WRAP_I64,
    I32_ADD,
    ...set(i),
    ...check,
    ...get(bits),
    ...get(bits),
    I64_CONST,
    1,
    I64_SUB,
    I64_AND,
    ...set(bits),
    BR,
    0,
    END,
    END,
    ...get(k),
    ...c(8),
    I32_ADD,
    ...set(k),
    BR,
    0,
    END,
    END,
  ]
  // Eighteen 0 sentinels after the text (the lanes of its last sixteen and the filter's look
  // ahead): p = text + 2n, two 16-byte stores and a 4-byte one.
  const sentinels = [
    ...get(text),
    ...get(n),
    ...c(1),
    I32_SHL,
    I32_ADD,
    ...set(p),
    ...get(p),
    ...bytes16(0),
    ...simd(V128_STORE),
    0,
    0,
    ...get(p),
    ...bytes16(0),
    ...simd(V128_STORE),
    0,
    16,
    ...get(p),
    ...c(0),
    I32_STORE,
    1,
    32,
  ]
  const prologue = [...constants.values()].flatMap((x) => [...simd(V128_CONST), ...x.bytes, ...set(x.local)])
  const code = [...prologue, ...sentinels, ...firstPass, ...secondPass, ...get(w), END]
  const body = [
    ...vec([
      [12, I32],
      [1, I64],
      [14 + constants.size, V128],
    ]),
    ...code,
  ]
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), ...vec([[I32]])]])),
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
  readonly #scan: (text: number, n: number, out: number, acts: number, bitmap: number) => number
  readonly #textAt: number
  /** Code units the text area holds (sentinels included). */
  #capacity = 0
  #outAt = 0
  #actsAt = 0
  #bitmapAt = 0
  #bytes!: Buffer
  /** The text's code units (index 0 is the text's first). */
  units!: Uint16Array
  /** The positions found, then whatever the caller appends. */
  positions!: Int32Array
  /** The ACT of each position found. */
  acts!: Uint8Array

  constructor(tables: ScanTables, gate: Int32Array) {
    // The tables, then 64 zero bytes (the code unit before the text is 0), then the text.
    this.#textAt = GATE_AT + gate.byteLength + 64
    const pages = Math.ceil((this.#textAt + 7 * 64 * 1024 + 64) / PAGE)
    const module = new WebAssembly.Module(assemble(tables, wordFilter(gate), pages))
    const instance = new WebAssembly.Instance(module, {})
    this.#memory = instance.exports.memory as WebAssembly.Memory
    this.#scan = instance.exports.scan as (
      text: number,
      n: number,
      out: number,
      acts: number,
      bitmap: number,
    ) => number
    const mem = new Uint8Array(this.#memory.buffer)
    mem.set(tables.cls, CLS_AT)
    mem.set(tables.gcode, GCODE_AT)
    mem.set(tables.event, EVENT_AT)
    mem.set(tables.act, ACT_AT)
    mem.set(new Uint8Array(gate.buffer, gate.byteOffset, gate.byteLength), GATE_AT)
    this.#views(64 * 1024)
  }

  #views(capacity: number): void {
    // Text (capacity code units, sixteen of them sentinels), positions (one per code unit and
    // sixteen of slack), the bitmap (two bytes per sixteen code units, and a 64-bit word of slack).
    const outAt = this.#textAt + ((capacity * 2 + 15) & ~15)
    const actsAt = outAt + (capacity + 16) * 4
    const bitmapAt = actsAt + ((capacity + 16 + 15) & ~15)
    const need = bitmapAt + Math.ceil(capacity / 16) * 2 + 16
    const have = this.#memory.buffer.byteLength
    if (need > have) this.#memory.grow(Math.ceil((need - have) / PAGE))
    this.#capacity = capacity
    this.#outAt = outAt
    this.#actsAt = actsAt
    this.#bitmapAt = bitmapAt
    this.#bytes = Buffer.from(this.#memory.buffer, this.#textAt, capacity * 2)
    this.units = new Uint16Array(this.#memory.buffer, this.#textAt, capacity)
    this.positions = new Int32Array(this.#memory.buffer, outAt, capacity + 16)
    this.acts = new Uint8Array(this.#memory.buffer, actsAt, capacity + 16)
  }

  /** Loads `text` and returns how many positions were found (in `positions`). */
  run(text: string): number {
    const n = text.length
    // The scan writes eighteen 0 sentinels after the text.
    if (n + 18 > this.#capacity) this.#views(n + 18)
    this.#bytes.write(text, 0, 'utf16le')
    return this.#scan(this.#textAt, n, this.#outAt, this.#actsAt, this.#bitmapAt)
  }
}
