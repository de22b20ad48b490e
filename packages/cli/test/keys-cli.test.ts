import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { loadConfig } from '@prsm/core'
import { createLogger, initIdentity, loadIdentity, PrsmNode } from '@prsm/node'
import { prsm } from './prsm-runner.ts'

describe('prsm keys against a running node (token file auth)', () => {
  let dir: string
  let node: PrsmNode

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'prsm-keys-cli-'))
    await initIdentity(dir, { password: null })
    const { config } = loadConfig({ flags: { listen: ['/ip4/127.0.0.1/tcp/0'], logLevel: 'silent' } })
    node = await PrsmNode.create({
      config,
      identity: await loadIdentity(dir, null),
      dataDir: dir,
      logger: createLogger({ level: 'silent' }),
    })
    await node.start()
  })
  after(async () => {
    await node?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('creates a key shown once, lists it, revokes it; the key works against the API until revoked', async () => {
    const created = await prsm([
      'keys',
      'create',
      '--name',
      'ci',
      '--role',
      'auditor',
      '--daily-budget',
      '2.5',
      '--rate-limit',
      '50',
      '--expires',
      '7d',
      '--json',
      '--data-dir',
      dir,
    ])
    assert.equal(created.code, 0, created.stderr)
    const key = JSON.parse(created.stdout) as {
      id: string
      key: string
      role: string
      dailyBudget: { ftns: string }
    }
    assert.equal(key.role, 'auditor')
    assert.equal(key.dailyBudget.ftns, '2.5')
    const who = await fetch(`${node.apiUrl}/api/v1/auth/whoami`, {
      headers: { authorization: `Bearer ${key.key}` },
    })
    assert.equal(who.status, 200)
    assert.equal(who.headers.get('ratelimit-limit'), '50')

    const list = await prsm(['keys', 'list', '--data-dir', dir])
    assert.equal(list.code, 0, list.stderr)
    assert.match(list.stdout, new RegExp(`${key.id}\\s+ci\\s+auditor\\s+default\\s+50\\s+2.5 FTNS\\s+active`))
    assert.ok(!list.stdout.includes(key.key))

    const revoked = await prsm(['keys', 'revoke', key.id, '--data-dir', dir])
    assert.equal(revoked.code, 0, revoked.stderr)
    assert.match(revoked.stdout, new RegExp(`revoked ${key.id}`))
    const after = await fetch(`${node.apiUrl}/api/v1/auth/whoami`, {
      headers: { authorization: `Bearer ${key.key}` },
    })
    assert.equal(after.status, 401)
    assert.match((await prsm(['keys', 'list', '--data-dir', dir])).stdout, /revoked/)
  })

  it('reports bad input with its code and exit code 2, unknown keys with exit code 1', async () => {
    const bad = await prsm(['keys', 'create', '--name', 'x', '--role', 'root', '--data-dir', dir])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /VALIDATION_FAILED/)
    const unknown = await prsm(['keys', 'revoke', '0123456789ab', '--data-dir', dir])
    assert.equal(unknown.code, 1)
    assert.match(unknown.stderr, /NOT_FOUND/)
  })
})
