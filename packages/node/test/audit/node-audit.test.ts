import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type Devnet, FTNS, startDevnet } from '@prsm/contracts'
import type { PrsmNode } from '../../src/index.ts'
import { readRuntimeFile } from '../../src/runtime-file.ts'
import { startTestNode, stopAll, waitFor } from '../helpers.ts'

/** The audit log wired into running nodes: start, API auth failures, channel events, alerts. */
describe('node audit (two nodes on a devnet)', () => {
  let dir: string
  let devnet: Devnet
  let payer: PrsmNode
  let payee: PrsmNode
  const alerts: Array<{ alert: { type: string; category: string } }> = []
  const hook = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => {
      body += c
    })
    req.on('end', () => {
      alerts.push(JSON.parse(body))
      res.statusCode = 200
      res.end()
    })
  })

  before(async () => {
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r))
    const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts`
    dir = mkdtempSync(join(tmpdir(), 'prsm-node-audit-'))
    devnet = await startDevnet({ dir })
    const chain = {
      deployment: devnet.deploymentFile as string,
      parameterPollMs: 100,
      reconcileIntervalMs: 60_000,
    }
    ;[payer, payee] = await Promise.all([
      startTestNode({
        api: true,
        config: { chain, audit: { alerts: [{ url, categories: ['authorization', 'authentication'] }] } },
      }),
      startTestNode({ config: { chain } }),
    ])
  })
  after(async () => {
    await stopAll([payer, payee].filter(Boolean))
    await devnet?.stop()
    hook.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('records the node start and an API request with a bad token, and alerts the webhook', async () => {
    const types = payer.audit.query({}).map((e) => e.type)
    assert.ok(types.includes('identity.unlocked'))
    assert.ok(types.includes('node.start'))
    const runtime = await readRuntimeFile(payer.dataDir)
    const res = await fetch(`${runtime.apiUrl}/api/v1/node/status`, {
      headers: { authorization: 'Bearer nope' },
    })
    assert.equal(res.status, 401)
    const denied = await waitFor('auth failure audited', () =>
      payer.audit.query({ category: 'authentication' }).find((e) => e.outcome !== 'success'),
    )
    assert.ok(!JSON.stringify(denied).includes('nope'), 'the presented secret is not logged')
    await payer.audit.alertsIdle()
    assert.ok(alerts.some((a) => a.alert.category === 'authentication' && a.alert.type === denied.type))
  })

  it('a banned peer is audited as a network_security entry', async () => {
    const peer = payee.libp2p.peerId
    while (!payer.penalties.isBanned(peer)) payer.penalties.penalise(peer, 'MESSAGE_BAD_SIGNATURE')
    const entry = payer.audit.query({ category: 'network_security', type: 'peer.banned' }).at(-1)
    assert.ok(entry, 'ban audited')
    assert.equal(entry.subject, peer.toString())
    assert.equal(entry.outcome, 'denied')
    assert.ok(Number((entry.details.offences as Record<string, number>).MESSAGE_BAD_SIGNATURE) > 0)
  })

  it("audits this wallet's channel open and claim from chain events", async () => {
    const opened = await payer.ledger.payer.openChannel({
      payee: payee.identity.address,
      deposit: 10n * FTNS,
    })
    const voucher = payer.ledger.payer.pay(opened.channel, 2n * FTNS)
    await payee.ledger.payee.acceptVoucher(voucher)
    await payee.ledger.reconciler.claim(opened.channel)
    const mine = await waitFor('payer audit', () =>
      payer.audit
        .query({ category: 'web3_operations', type: 'channel.opened' })
        .find((e) => e.subject === opened.channel),
    )
    assert.equal(mine.details.role, 'payer')
    assert.equal(mine.details.deposit, (10n * FTNS).toString())
    await waitFor('payee claim audited', () =>
      payee.audit
        .query({ category: 'web3_operations', type: 'channel.claimed' })
        .some((e) => e.subject === opened.channel),
    )
    assert.equal(
      payee.audit.query({ type: 'channel.opened' }).find((e) => e.subject === opened.channel)?.details.role,
      'payee',
    )
    // Staking is audited the same way.
    await payee.ledger.wallet.stakeAdd(100n * FTNS)
    const staked = await waitFor('stake audited', () =>
      payee.audit.query({ category: 'web3_operations', type: 'stake.registered' }).at(-1),
    )
    assert.equal(staked.subject, payee.identity.address)
    assert.equal((await payer.audit.verify({ signer: payer.peerId })).ok, true)
  })
})
