import { PrsmError } from '@prsm/core'

/** Reads a line from the terminal without echoing it. */
async function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin
  process.stderr.write(question)
  stdin.setRawMode(true)
  stdin.resume()
  stdin.setEncoding('utf8')
  return new Promise((resolve, reject) => {
    let value = ''
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          cleanup()
          process.stderr.write('\n')
          resolve(value)
          return
        }
        if (ch === '\u0003') {
          cleanup()
          process.stderr.write('\n')
          reject(new PrsmError('KEYSTORE_NO_PASSWORD', 'cancelled'))
          return
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1)
        else value += ch
      }
    }
    const cleanup = (): void => {
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
    }
    stdin.on('data', onData)
  })
}

export interface PasswordOptions {
  /** Ask twice and require both to match (for creating keys). */
  confirm?: boolean
  env?: NodeJS.ProcessEnv
}

/** The keystore password: `PRSM_PASSWORD`, else a prompt on a terminal, else KEYSTORE_NO_PASSWORD. */
export async function obtainPassword(options: PasswordOptions = {}): Promise<string> {
  const env = options.env ?? process.env
  if (env.PRSM_PASSWORD !== undefined && env.PRSM_PASSWORD !== '') return env.PRSM_PASSWORD
  if (!process.stdin.isTTY) throw new PrsmError('KEYSTORE_NO_PASSWORD')
  const first = await promptHidden('Keystore password: ')
  if (first === '') throw new PrsmError('KEYSTORE_NO_PASSWORD', 'the password must not be empty')
  if (options.confirm === true) {
    const second = await promptHidden('Repeat password: ')
    if (second !== first) throw new PrsmError('VALIDATION_FAILED', 'the passwords do not match')
  }
  return first
}

/**
 * Decrypts the keys of `dataDir`: keys made with --insecure-no-password need nothing, others the
 * password from {@link obtainPassword}. A directory without keys fails with DATA_DIR_MISSING.
 */
export async function unlockIdentity(dataDir: string): Promise<import('@prsm/node').Identity> {
  const { identityIsInsecure, loadIdentity } = await import('@prsm/node')
  const insecure = await identityIsInsecure(dataDir).catch((err: { code?: string }) => {
    if (err.code === 'KEYSTORE_MISSING') {
      throw new PrsmError(
        'DATA_DIR_MISSING',
        `${dataDir} has no keys: run prsm init --data-dir ${dataDir} first`,
      )
    }
    throw err
  })
  return loadIdentity(dataDir, insecure ? null : await obtainPassword())
}
