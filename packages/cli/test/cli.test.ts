import assert from 'node:assert/strict'
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { loadIdentity } from '@prsm/node'

const BIN = fileURLToPath(new URL('../src/bin.ts', import.meta.url))
const execFileP = promisify(execFile)

interface Result {
  code: number
  stdout: string
  stderr: string
}

/** Runs `prsm ARGS` in a child process with Node 24 and no inherited PRSM_* settings. */
async function prsm(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PRSM_')))
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [BIN, ...args], {
      env: { ...clean, ...env },
      timeout: 60_000,
    })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

let root: string
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'prsm-cli-'))
})
after(() => rm(root, { recursive: true, force: true }))

describe('prsm init', () => {
  it('creates encrypted keys with mode 0600 and refuses to overwrite them without --force', async () => {
    const dir = join(root, 'init')
    const first = await prsm(['init', '--data-dir', dir, '--json'], { PRSM_PASSWORD: 'correct horse' })
    assert.equal(first.code, 0, first.stderr)
    const created = JSON.parse(first.stdout) as { peerId: string; address: string; insecure: boolean }
    assert.match(created.peerId, /^12D3KooW/)
    assert.match(created.address, /^0x[0-9a-fA-F]{40}$/)
    assert.equal(created.insecure, false)
    for (const name of ['node-key.json', 'wallet-key.json']) {
      const file = join(dir, 'keystore', name)
      assert.equal((await stat(file)).mode & 0o777, 0o600)
      const text = await readFile(file, 'utf8')
      assert.match(text, /"kdf": "scrypt"/)
      assert.match(text, /"cipher": "aes-256-gcm"/)
    }
    const identity = await loadIdentity(dir, 'correct horse')
    const walletSecret = identity.walletKey.slice(2)
    assert.ok(!(await readFile(join(dir, 'keystore', 'wallet-key.json'), 'utf8')).includes(walletSecret))
    await assert.rejects(loadIdentity(dir, 'wrong'), { code: 'KEYSTORE_BAD_PASSWORD' })

    const again = await prsm(['init', '--data-dir', dir], { PRSM_PASSWORD: 'x' })
    assert.equal(again.code, 1)
    assert.match(again.stderr, /KEYSTORE_EXISTS/)
    const forced = await prsm(['init', '--data-dir', dir, '--force', '--json'], { PRSM_PASSWORD: 'x' })
    assert.equal(forced.code, 0)
    assert.notEqual((JSON.parse(forced.stdout) as { peerId: string }).peerId, created.peerId)
  })

  it('without a password source and no terminal, refuses with exit code 2', async () => {
    const result = await prsm(['init', '--data-dir', join(root, 'nopass')])
    assert.equal(result.code, 2)
    assert.match(result.stderr, /KEYSTORE_NO_PASSWORD/)
  })
})

describe('prsm node start: configuration errors', () => {
  let dir: string
  before(async () => {
    dir = join(root, 'cfg')
    assert.equal((await prsm(['init', '--data-dir', dir, '--insecure-no-password'])).code, 0)
  })

  it('exits 2 naming the field of an invalid environment value', async () => {
    const result = await prsm(['node', 'start', '--data-dir', dir], { PRSM_API_PORT: 'abc' })
    assert.equal(result.code, 2)
    assert.match(result.stderr, /CONFIG_INVALID: invalid configuration at api\.port/)
  })

  it('exits 2 naming an unknown key in config.json', async () => {
    await writeFile(join(dir, 'config.json'), JSON.stringify({ messages: { maxByts: 10 } }))
    const result = await prsm(['node', 'start', '--data-dir', dir])
    assert.equal(result.code, 2)
    assert.match(result.stderr, /CONFIG_INVALID: invalid configuration at messages/)
    await rm(join(dir, 'config.json'))
  })

  it('exits 2 on a malformed --offer flag', async () => {
    const result = await prsm(['node', 'start', '--data-dir', dir, '--offer', 'model:x=cheap'])
    assert.equal(result.code, 2)
    assert.match(result.stderr, /offers\.0\.price/)
  })

  it('refuses a data directory without keys', async () => {
    const result = await prsm(['node', 'start', '--data-dir', join(root, 'empty')])
    assert.equal(result.code, 1)
    assert.match(result.stderr, /DATA_DIR_MISSING/)
  })

  it('status without a running node says so', async () => {
    const result = await prsm(['node', 'status', '--data-dir', dir, '--json'])
    assert.equal(result.code, 1)
    assert.equal((JSON.parse(result.stdout) as { error: { code: string } }).error.code, 'NODE_NOT_RUNNING')
  })
})

describe('three prsm node start processes', () => {
  const children: ChildProcess[] = []
  const logs: string[] = ['', '', '']
  const dirs: string[] = []
  after(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
  })

  async function startNode(i: number, args: string[]): Promise<{ peerId: string; multiaddrs: string[] }> {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PRSM_')))
    const child = spawn(process.execPath, [BIN, 'node', 'start', '--data-dir', dirs[i] as string, ...args], {
      env: { ...clean, PRSM_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.push(child)
    child.stdout?.on('data', (d: Buffer) => {
      logs[i] += d.toString()
    })
    child.stderr?.on('data', (d: Buffer) => {
      logs[i] += d.toString()
    })
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      const info = await readFile(join(dirs[i] as string, 'node.json'), 'utf8').catch(() => undefined)
      if (info !== undefined) return JSON.parse(info) as { peerId: string; multiaddrs: string[] }
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`node ${i} did not start: ${logs[i]}`)
  }

  it('list each other as peers and find the first node’s offer from the third within 5 s', async () => {
    for (const name of ['a', 'b', 'c']) {
      const dir = join(root, `net-${name}`)
      dirs.push(dir)
      assert.equal((await prsm(['init', '--data-dir', dir, '--insecure-no-password'])).code, 0)
    }
    const a = await startNode(0, ['--offer', 'model:llama-3-8b=0.000002'])
    const boot = a.multiaddrs.find((m) => !m.includes('/ws')) as string
    const [b, c] = await Promise.all([
      startNode(1, ['--bootstrap', boot]),
      startNode(2, ['--bootstrap', boot]),
    ])
    const startedAt = Date.now()

    let offers: Array<{ provider: string; offer: { capability: string; price: string } }> = []
    while (Date.now() - startedAt < 5_000) {
      const result = await prsm([
        'offers',
        '--capability',
        'model:llama-3-8b',
        '--json',
        '--data-dir',
        dirs[2] as string,
      ])
      assert.equal(result.code, 0, result.stderr)
      offers = JSON.parse(result.stdout) as typeof offers
      if (offers.length > 0) break
    }
    assert.ok(Date.now() - startedAt < 5_000, 'the offer took longer than 5 s to appear')
    assert.equal(offers[0]?.provider, a.peerId)
    assert.equal(offers[0]?.offer.price, '2000000000000')

    // every node lists the two others (b and c find each other through the DHT)
    const ids = [a.peerId, b.peerId, c.peerId]
    for (const [i, dir] of dirs.entries()) {
      const others = ids.filter((_, j) => j !== i)
      let listed: string[] = []
      const deadline = Date.now() + 10_000
      while (Date.now() < deadline) {
        const result = await prsm(['peers', '--json', '--data-dir', dir])
        listed = (JSON.parse(result.stdout) as Array<{ peerId: string }>).map((p) => p.peerId)
        if (others.every((o) => listed.includes(o))) break
        await new Promise((r) => setTimeout(r, 200))
      }
      assert.ok(
        others.every((o) => listed.includes(o)),
        `node ${i} lists ${listed.join(', ')}`,
      )
    }

    const status = await prsm(['node', 'status', '--json', '--data-dir', dirs[0] as string])
    assert.deepEqual((JSON.parse(status.stdout) as { offers: string[] }).offers, ['model:llama-3-8b'])
  })

  it('stop gracefully on SIGTERM, remove node.json, and never log a key', async () => {
    const exits = children.map(
      (child) => new Promise<number | null>((resolve) => child.once('exit', resolve)),
    )
    for (const child of children) child.kill('SIGTERM')
    assert.deepEqual(await Promise.all(exits), [0, 0, 0])
    for (const [i, dir] of dirs.entries()) {
      await assert.rejects(stat(join(dir, 'node.json')), { code: 'ENOENT' })
      await assert.rejects(stat(join(dir, 'api.token')), { code: 'ENOENT' })
      const identity = await loadIdentity(dir, null)
      assert.ok(!logs[i]?.includes(identity.walletKey.slice(2)), 'wallet key in the logs')
      assert.ok(!logs[i]?.includes(Buffer.from(identity.nodeKey.raw).toString('hex')), 'node key in the logs')
      assert.match(logs[i] ?? '', /node stopped/)
    }
  })
})
