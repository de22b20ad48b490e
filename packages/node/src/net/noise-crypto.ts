import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'

/** Below this, libp2p-noise's WebAssembly ChaCha20-Poly1305 is faster than Node's (its own rule). */
const SMALL = 1200
const TAG = 16

/**
 * One KeyObject per Noise cipher key. libp2p-noise's Node crypto passes the raw key bytes to
 * `createCipheriv` for every frame (at most 64 KiB), and Node turns them into a key object each
 * time: ~25 µs per frame, a third of the CPU of a bulk transfer. A Noise CipherState keeps its key
 * in one Uint8Array for the connection's lifetime (no rekeying), so the key object is cached
 * against that array and dropped with it.
 */
const keys = new WeakMap<Uint8Array, KeyObject>()
function keyObject(k: Uint8Array): KeyObject {
  let key = keys.get(k)
  if (key === undefined) {
    key = createSecretKey(k)
    keys.set(k, key)
  }
  return key
}

/**
 * libp2p-noise's default crypto with ChaCha20-Poly1305 on cached key objects (same algorithm,
 * same wire format; everything else, and small frames, use the default implementation).
 */
export const noiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  chaCha20Poly1305Encrypt(plaintext, nonce, ad, k) {
    if (plaintext.byteLength < SMALL) return defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k)
    const cipher = createCipheriv('chacha20-poly1305', keyObject(k), nonce, { authTagLength: TAG })
    cipher.setAAD(ad, { plaintextLength: plaintext.byteLength })
    const parts: Uint8Array[] =
      plaintext instanceof Uint8Array
        ? [cipher.update(plaintext)]
        : [...plaintext].map((b) => cipher.update(b))
    const final = cipher.final()
    if (final.byteLength > 0) parts.push(final)
    parts.push(cipher.getAuthTag())
    // the pieces as a list: Noise appends them to its output list, so joining them here would only
    // copy (and allocate) every byte once more
    return new Uint8ArrayList(...parts)
  },
  chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst) {
    if (ciphertext.byteLength < SMALL) {
      return defaultCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst)
    }
    const length = ciphertext.byteLength - TAG
    const decipher = createDecipheriv('chacha20-poly1305', keyObject(k), nonce, { authTagLength: TAG })
    decipher.setAAD(ad, { plaintextLength: length })
    decipher.setAuthTag(ciphertext.subarray(length))
    if (ciphertext instanceof Uint8Array) {
      const out = decipher.update(ciphertext.subarray(0, length))
      const final = decipher.final()
      return final.byteLength > 0 ? Buffer.concat([out, final]) : out
    }
    const parts = [...ciphertext.sublist(0, length)].map((b) => decipher.update(b))
    const final = decipher.final()
    if (final.byteLength > 0) parts.push(final)
    return new Uint8ArrayList(...parts)
  },
}
