/**
 * The pieces of the WebAssembly binary format that code assembling a module byte by byte needs:
 * LEB128 integers, vectors, sections and names. Used by tier 1's scan (safety/assess/scan-wasm.ts)
 * and by the tests that build sandbox modules.
 */

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = []
  do {
    let b = n & 0x7f
    n >>>= 7
    if (n !== 0) b |= 0x80
    out.push(b)
  } while (n !== 0)
  return out
}

/** Signed LEB128. */
export function sleb(n: number): number[] {
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

/** A section: its id, then its body's byte length, then the body. */
export const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body]

/** A vector: the item count, then the items. */
export const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()]

/** A name (ASCII): its byte length, then its bytes. */
export const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))]
