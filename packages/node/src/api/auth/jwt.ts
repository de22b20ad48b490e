import { createPrivateKey, createPublicKey, hkdfSync, type KeyObject } from 'node:crypto'
import { PrsmError } from '@prsm/core'
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose'
import { isRole, type Role } from './permissions.ts'

/** DER prefix of a PKCS#8 Ed25519 private key; the 32-byte seed follows. */
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex')
const AUDIENCE = 'prsm-api'

export interface TokenClaims {
  keyId: string
  role: Role
  org: string | null
  expiresAt: number
}

/**
 * Short-lived API tokens (JWT, EdDSA). The signing key is derived from the node's identity key
 * (HKDF-SHA256, info `prsm-api-jwt-v1`): it is never stored, so it is exactly as protected as
 * the identity keystore (encrypted with the node password), and a node restart keeps tokens valid.
 */
export class TokenSigner {
  readonly #private: KeyObject
  readonly #public: KeyObject
  readonly #issuer: string

  constructor(secret: Uint8Array, issuer: string) {
    const seed = Buffer.from(hkdfSync('sha256', secret, 'prsm-api', 'prsm-api-jwt-v1', 32))
    this.#private = createPrivateKey({
      key: Buffer.concat([PKCS8_ED25519, seed]),
      format: 'der',
      type: 'pkcs8',
    })
    this.#public = createPublicKey(this.#private)
    this.#issuer = issuer
  }

  async sign(
    claims: Omit<TokenClaims, 'expiresAt'>,
    ttlSeconds: number,
  ): Promise<{ token: string; expiresAt: number }> {
    const now = Math.floor(Date.now() / 1000)
    const token = await new SignJWT({ role: claims.role, org: claims.org })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
      .setSubject(claims.keyId)
      .setIssuer(this.#issuer)
      .setAudience(AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(now + ttlSeconds)
      .sign(this.#private)
    return { token, expiresAt: (now + ttlSeconds) * 1000 }
  }

  /** Verifies signature, issuer, audience and expiry; throws UNAUTHORIZED. */
  async verify(token: string): Promise<TokenClaims> {
    try {
      const { payload } = await jwtVerify(token, this.#public, {
        issuer: this.#issuer,
        audience: AUDIENCE,
        algorithms: ['EdDSA'],
      })
      const org = payload.org
      if (
        typeof payload.sub !== 'string' ||
        !isRole(payload.role) ||
        !(org === null || typeof org === 'string')
      ) {
        throw new PrsmError('UNAUTHORIZED', 'the token claims are malformed')
      }
      return { keyId: payload.sub, role: payload.role, org, expiresAt: (payload.exp ?? 0) * 1000 }
    } catch (err) {
      if (err instanceof PrsmError) throw err
      const expired = err instanceof joseErrors.JWTExpired
      throw new PrsmError('UNAUTHORIZED', expired ? 'the token has expired' : 'the token is not valid', {
        details: { reason: expired ? 'expired' : 'invalid' },
      })
    }
  }
}
