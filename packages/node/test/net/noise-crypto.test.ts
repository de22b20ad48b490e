import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { noiseCrypto } from '../../src/net/noise-crypto.ts'

/** Any byte container as a Buffer (deepEqual tells Buffer and Uint8Array apart). */
const toBytes = (b: Uint8Array | { subarray(): Uint8Array }): Buffer =>
  Buffer.from(b instanceof Uint8Array ? b : b.subarray())

/** A Uint8ArrayList-shaped input made of pieces (what yamux frames look like to noise). */
function list(parts: Uint8Array[]) {
  const all = Buffer.concat(parts)
  return {
    byteLength: all.byteLength,
    *[Symbol.iterator]() {
      yield* parts
    },
    subarray: (start = 0, end?: number) => all.subarray(start, end),
    sublist: (start: number, end: number) => list([all.subarray(start, end)]),
  }
}

describe('noise crypto with cached key objects', () => {
  const k = randomBytes(32)
  const nonce = randomBytes(12)
  const ad = randomBytes(32)

  it('interoperates with libp2p-noise default crypto in both directions, for small and large frames', () => {
    for (const size of [0, 100, 1199, 1200, 4096, 65519]) {
      const plain = randomBytes(size)
      const ours = toBytes(noiseCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k))
      const theirs = toBytes(defaultCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k))
      assert.deepEqual(ours, theirs, `same ciphertext for ${size} bytes`)
      assert.deepEqual(toBytes(defaultCrypto.chaCha20Poly1305Decrypt(ours, nonce, ad, k)), toBytes(plain))
      assert.deepEqual(toBytes(noiseCrypto.chaCha20Poly1305Decrypt(theirs, nonce, ad, k)), toBytes(plain))
    }
  })

  it('accepts inputs made of several pieces', () => {
    const plain = randomBytes(40_000)
    const sealed = toBytes(
      noiseCrypto.chaCha20Poly1305Encrypt(
        list([plain.subarray(0, 7), plain.subarray(7)]) as never,
        nonce,
        ad,
        k,
      ),
    )
    assert.deepEqual(sealed, toBytes(defaultCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k)))
    const opened = noiseCrypto.chaCha20Poly1305Decrypt(
      list([sealed.subarray(0, 1000), sealed.subarray(1000)]) as never,
      nonce,
      ad,
      k,
    )
    assert.deepEqual(toBytes(opened), toBytes(plain))
  })

  it('rejects a tampered frame, a wrong key and a wrong nonce', () => {
    const plain = randomBytes(5000)
    const sealed = Buffer.from(toBytes(noiseCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k)))
    const tampered = Buffer.from(sealed)
    tampered[10] = (tampered[10] as number) ^ 1
    assert.throws(() => noiseCrypto.chaCha20Poly1305Decrypt(tampered, nonce, ad, k))
    assert.throws(() => noiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, ad, randomBytes(32)))
    assert.throws(() => noiseCrypto.chaCha20Poly1305Decrypt(sealed, randomBytes(12), ad, k))
  })
})
