import { createCipheriv, createDecipheriv, randomBytes, scrypt as scryptCb } from 'node:crypto'
import { chmod, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { PrsmError } from '@prsm/core'

const scrypt = promisify(scryptCb) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>

/** scrypt cost for password-protected keys: N = 2^16, r = 8, p = 1 (64 MiB, ~0.2 s here). */
export const SCRYPT_PARAMS = { n: 2 ** 16, r: 8, p: 1 } as const
/** With --insecure-no-password there is nothing to stretch; keep start-up fast. */
export const INSECURE_SCRYPT_PARAMS = { n: 2 ** 10, r: 8, p: 1 } as const

/**
 * One encrypted key file. The public part (PeerId or address) is kept in clear so that status
 * commands can show it without the password; the secret is AES-256-GCM under a scrypt key, and
 * the public part is authenticated as additional data so it cannot be swapped.
 */
export interface KeystoreFile {
  version: 1
  kind: string
  public: string
  insecure: boolean
  crypto: {
    kdf: 'scrypt'
    kdfparams: { n: number; r: number; p: number; dklen: 32; salt: string }
    cipher: 'aes-256-gcm'
    iv: string
    tag: string
    ciphertext: string
  }
}

async function deriveKey(password: string, params: KeystoreFile['crypto']['kdfparams']): Promise<Buffer> {
  return scrypt(password, Buffer.from(params.salt, 'hex'), params.dklen, {
    N: params.n,
    r: params.r,
    p: params.p,
    maxmem: 256 * params.n * params.r + 1024 * 1024,
  })
}

export async function encryptSecret(
  secret: Uint8Array,
  meta: { kind: string; public: string },
  password: string | null,
): Promise<KeystoreFile> {
  const cost = password === null ? INSECURE_SCRYPT_PARAMS : SCRYPT_PARAMS
  const kdfparams = { ...cost, dklen: 32 as const, salt: randomBytes(32).toString('hex') }
  const key = await deriveKey(password ?? '', kdfparams)
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(Buffer.from(`${meta.kind}:${meta.public}`))
  const ciphertext = Buffer.concat([cipher.update(secret), cipher.final()])
  return {
    version: 1,
    kind: meta.kind,
    public: meta.public,
    insecure: password === null,
    crypto: {
      kdf: 'scrypt',
      kdfparams,
      cipher: 'aes-256-gcm',
      iv: iv.toString('hex'),
      tag: cipher.getAuthTag().toString('hex'),
      ciphertext: ciphertext.toString('hex'),
    },
  }
}

export async function decryptSecret(file: KeystoreFile, password: string | null): Promise<Uint8Array> {
  const key = await deriveKey(file.insecure ? '' : (password ?? ''), file.crypto.kdfparams)
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(file.crypto.iv, 'hex'))
    decipher.setAAD(Buffer.from(`${file.kind}:${file.public}`))
    decipher.setAuthTag(Buffer.from(file.crypto.tag, 'hex'))
    return new Uint8Array(
      Buffer.concat([decipher.update(Buffer.from(file.crypto.ciphertext, 'hex')), decipher.final()]),
    )
  } catch (err) {
    throw new PrsmError(
      'KEYSTORE_BAD_PASSWORD',
      `cannot decrypt the ${file.kind} key: wrong password or corrupt file`,
      {
        cause: err,
      },
    )
  }
}

/** Writes a file with mode 0600 atomically (temp file + fsync + rename): never a partial key file. */
export async function writePrivateFile(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  const handle = await open(tmp, 'wx', 0o600)
  try {
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await chmod(tmp, 0o600)
  await rename(tmp, path)
}

export async function ensurePrivateDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 })
  await chmod(path, 0o700)
}

export async function readKeystoreFile(path: string): Promise<KeystoreFile> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PrsmError('KEYSTORE_MISSING', `no key file at ${path}: run prsm init`, { cause: err })
    }
    throw err
  }
  let parsed: KeystoreFile
  try {
    parsed = JSON.parse(text) as KeystoreFile
  } catch (err) {
    throw new PrsmError('KEYSTORE_CORRUPT', `key file ${path} is not JSON`, { cause: err })
  }
  if (parsed.version !== 1 || parsed.crypto?.kdf !== 'scrypt' || parsed.crypto.cipher !== 'aes-256-gcm') {
    throw new PrsmError('KEYSTORE_CORRUPT', `key file ${path} has an unknown format`)
  }
  return parsed
}

export async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

export async function removeIfExists(path: string): Promise<void> {
  await rm(path, { force: true })
}

export const KEYSTORE_DIR = 'keystore'
export function keystorePath(dataDir: string, name: 'node' | 'wallet'): string {
  return join(dataDir, KEYSTORE_DIR, `${name}-key.json`)
}
