import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import { lpStream } from '@libp2p/utils'
import {
  type Devnet,
  devnetFaucetVoter,
  FTNS,
  parameterProposal,
  passProposalOnDevnet,
  startDevnet,
} from '@prsm/contracts'
import { MessageRegistry, sealEnvelope } from '@prsm/core'
import { z } from 'zod'
import { PAY_PROTOCOL, type PrsmNode } from '../../src/index.ts'
import { readRuntimeFile } from '../../src/runtime-file.ts'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from '../helpers.ts'

interface Amount {
  wei: string
  ftns: string
}

/** Calls a node's local API as the CLI does (bearer token from the data directory). */
async function api<T = Record<string, unknown>>(
  node: PrsmNode,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const runtime = await readRuntimeFile(node.dataDir)
  const res = await fetch(`${runtime.apiUrl}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${runtime.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: res.status, body: (await res.json()) as T }
}

async function ok<T = Record<string, unknown>>(node: PrsmNode, path: string, body?: unknown): Promise<T> {
  const res = await api<T>(node, path, body)
  assert.equal(res.status, 200, `${path}: ${JSON.stringify(res.body)}`)
  return res.body
}

const balance = async (node: PrsmNode, of?: string): Promise<bigint> =>
  BigInt((await ok<{ ftns: Amount }>(node, `/api/v1/wallet${of ? `?of=${of}` : ''}`)).ftns.wei)

const params = async (node: PrsmNode): Promise<Record<string, string>> =>
  (await ok<{ parameters: Record<string, string> }>(node, '/api/v1/chain/parameters')).parameters

describe('the ledger in a running node (two nodes on a devnet)', () => {
  let dir: string
  let devnet: Devnet
  let payer: PrsmNode
  let payee: PrsmNode
  let offline: PrsmNode
  const creator = '0x00000000000000000000000000000000000c0ffe'

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'prsm-node-ledger-'))
    devnet = await startDevnet({ dir })
    const chain = {
      deployment: devnet.deploymentFile as string,
      parameterPollMs: 100,
      reconcileIntervalMs: 60_000,
    }
    payer = await startTestNode({ api: true, config: { chain } })
    ;[payee, offline] = await Promise.all([
      startTestNode({ api: true, config: { chain, bootstrap: [bootstrapAddr(payer)] } }),
      startTestNode({ api: true, config: { bootstrap: [bootstrapAddr(payer)] } }),
    ])
    await waitFor('peers connected', () => payer.peers().length >= 2)
  })
  after(async () => {
    await stopAll([payer, payee, offline].filter((n) => n !== undefined))
    await devnet?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('funds each node from the faucet at start and reports the chain in its status', async () => {
    for (const node of [payer, payee]) {
      const wallet = await ok<{ address: string; ftns: Amount; eth: { wei: string } }>(node, '/api/v1/wallet')
      assert.equal(wallet.address, node.identity.address)
      assert.equal(wallet.ftns.ftns, '1000000')
      assert.ok(BigInt(wallet.eth.wei) > 0n)
      assert.deepEqual((node.status() as { chain: unknown }).chain, {
        chainId: devnet.deployment.chainId,
        wallet: node.identity.address,
      })
    }
  })

  it('opens a channel to a PeerId, pays five vouchers over /prsm/pay, the payee claims: balances to the wei', async () => {
    const { treasury, fee } = await feeSetup()
    const before = {
      payer: await balance(payer),
      payee: await balance(payee),
      treasury: await balance(payer, treasury),
      creator: await balance(payer, creator),
    }
    const deposit = 10n * FTNS
    const opened = await ok<{ channel: `0x${string}`; payee: string; peer: string; deposit: Amount }>(
      payer,
      '/api/v1/channels',
      { to: payee.peerId, deposit: deposit.toString(), expirySeconds: 86_400 },
    )
    // the payee is not a registered provider: its node told the payer its wallet (signed answer)
    assert.equal(opened.payee, payee.identity.address)
    assert.equal(opened.peer, payee.peerId)
    assert.equal(opened.deposit.wei, deposit.toString())

    const price = FTNS / 4n
    const royalty = price / 20n
    for (let i = 1n; i <= 5n; i++) {
      const receipt = await ok<{ increment: Amount; cumulativeAmount: Amount; peer: string }>(
        payer,
        `/api/v1/channels/${opened.channel}/pay`,
        { amount: price.toString(), royalties: [{ creator, amount: royalty.toString() }] },
      )
      assert.equal(receipt.peer, payee.peerId)
      assert.equal(receipt.increment.wei, price.toString())
      assert.equal(receipt.cumulativeAmount.wei, (i * price).toString())
    }
    const listed = await ok<{ channels: Array<{ channel: string; role: string; received: Amount }> }>(
      payee,
      '/api/v1/channels',
    )
    const mine = listed.channels.find((c) => c.channel === opened.channel)
    assert.equal(mine?.role, 'payee')
    assert.equal(mine?.received.wei, (5n * price).toString())

    const claim = await ok<{ action: string; claimedOnChain: Amount }>(
      payee,
      `/api/v1/channels/${opened.channel}/claim`,
      {},
    )
    assert.equal(claim.action, 'claimed')
    assert.equal(claim.claimedOnChain.wei, (5n * price).toString())

    const paid = 5n * price
    const royalties = 5n * royalty
    const expectedFee = (paid * fee) / 10_000n
    assert.equal((await balance(payer)) - before.payer, -deposit)
    assert.equal((await balance(payee)) - before.payee, paid - royalties - expectedFee)
    assert.equal((await balance(payer, treasury)) - before.treasury, expectedFee)
    assert.equal((await balance(payer, creator)) - before.creator, royalties)
  })

  it('resolves a staked provider through the registry, by PeerId and by address', async () => {
    const staked = await ok<{ registered: boolean }>(payee, '/api/v1/stake', {
      amount: (100n * FTNS).toString(),
    })
    assert.equal(staked.registered, true)
    const status = await ok<{ registered: boolean; stake: Amount }>(
      payer,
      `/api/v1/stake?of=${payee.identity.address}`,
    )
    assert.equal(status.registered, true)
    assert.equal(status.stake.ftns, '100')
    // by address: the payee's node is found through its PeerId binding, so vouchers can be delivered
    const opened = await ok<{ channel: string; peer: string; payee: string }>(payer, '/api/v1/channels', {
      to: payee.identity.address,
      deposit: FTNS.toString(),
    })
    assert.equal(opened.peer, payee.peerId)
    const receipt = await ok<{ increment: Amount }>(payer, `/api/v1/channels/${opened.channel}/pay`, {
      amount: (FTNS / 10n).toString(),
    })
    assert.equal(receipt.increment.ftns, '0.1')
  })

  it('payments made at once on one channel reach the payee in order, each credited in full', async () => {
    const opened = await ok<{ channel: string }>(payer, '/api/v1/channels', {
      to: payee.peerId,
      deposit: FTNS.toString(),
    })
    const receipts = await Promise.all(
      Array.from({ length: 8 }, () =>
        ok<{ increment: Amount; cumulativeAmount: Amount }>(payer, `/api/v1/channels/${opened.channel}/pay`, {
          amount: '1000',
        }),
      ),
    )
    assert.deepEqual(
      receipts.map((r) => r.increment.wei),
      receipts.map(() => '1000'),
    )
    assert.deepEqual(
      receipts.map((r) => BigInt(r.cumulativeAmount.wei)).sort((x, y) => (x < y ? -1 : 1)),
      receipts.map((_, i) => BigInt(i + 1) * 1000n),
    )
  })

  it('refuses with stable codes: over the deposit, a payee without a chain, bad input', async () => {
    const opened = await ok<{ channel: string }>(payer, '/api/v1/channels', {
      to: payee.peerId,
      deposit: FTNS.toString(),
    })
    const over = await api<{ error: { code: string } }>(payer, `/api/v1/channels/${opened.channel}/pay`, {
      amount: (2n * FTNS).toString(),
    })
    assert.equal(over.status, 402)
    assert.equal(over.body.error.code, 'CHANNEL_INSUFFICIENT_FUNDS')
    // a voucher delivered to a node without a chain: refused over the wire with its code
    const wrong = await api<{ error: { code: string; details: { peer: string } } }>(
      payer,
      `/api/v1/channels/${opened.channel}/pay`,
      { amount: '1', peer: offline.peerId },
    )
    assert.equal(wrong.body.error.code, 'CHAIN_NOT_CONFIGURED')
    assert.equal(wrong.body.error.details.peer, offline.peerId)
    // a PeerId that is neither registered nor on this chain cannot be paid
    const unresolved = await api<{ error: { code: string; message: string } }>(payer, '/api/v1/channels', {
      to: offline.peerId,
      deposit: FTNS.toString(),
    })
    assert.equal(unresolved.status, 404)
    assert.equal(unresolved.body.error.code, 'PAYEE_UNRESOLVED')
    assert.match(unresolved.body.error.message, /CHAIN_NOT_CONFIGURED/)
    const invalid = await api<{ error: { code: string } }>(payer, '/api/v1/channels', {
      to: 'x',
      deposit: '-1',
    })
    assert.equal(invalid.status, 400)
    assert.equal(invalid.body.error.code, 'VALIDATION_FAILED')
    // the next voucher on the channel still reaches the payee, which credits both
    const next = await ok<{ increment: Amount }>(payer, `/api/v1/channels/${opened.channel}/pay`, {
      amount: '1',
      peer: payee.peerId,
    })
    assert.equal(next.increment.wei, '2')
  })

  it('the payment protocol goes through the message gate: junk and wrong message types are penalised', async () => {
    const send = async (bytes: Uint8Array): Promise<{ code: string }> => {
      const rejected = once(payee.gate, 'rejected', { signal: AbortSignal.timeout(5_000) })
      const stream = await offline.libp2p.dialProtocol(payee.libp2p.peerId, PAY_PROTOCOL)
      const lp = lpStream(stream, { maxDataLength: 1024 * 1024 })
      await lp.write(bytes)
      // no answer: the stream is reset
      await assert.rejects(lp.read({ signal: AbortSignal.timeout(5_000) }))
      return ((await rejected) as [{ code: string }])[0]
    }
    const junk = await send(dagCbor.encode({ voucher: 'not an envelope' }))
    assert.equal(junk.code, 'MESSAGE_MALFORMED')
    const query = new MessageRegistry().register('offer-query', 1, z.object({ capability: z.string() }))
    const wrongType = await send(await sealEnvelope(offline.identity.nodeKey, query, { capability: '' }))
    assert.equal(wrongType.code, 'MESSAGE_UNKNOWN_TYPE')
    // 40 + 10 points (less the decay since), below the ban threshold
    const score = payee.penalties.get(offline.libp2p.peerId)?.score ?? 0
    assert.ok(score > 49 && score <= 50, `score ${score}`)
    assert.equal(payee.penalties.isBanned(offline.peerId), false)
  })

  it('a node without a chain runs, and its paid endpoints answer CHAIN_NOT_CONFIGURED', async () => {
    assert.equal((offline.status() as { chain: unknown }).chain, null)
    const channel = `0x${'ab'.repeat(32)}`
    const calls: Array<[string, unknown?]> = [
      ['/api/v1/chain'],
      ['/api/v1/chain/parameters'],
      ['/api/v1/wallet'],
      ['/api/v1/wallet/transfer', { to: payer.identity.address, amount: '1' }],
      ['/api/v1/stake'],
      ['/api/v1/stake', { amount: '1' }],
      ['/api/v1/stake/unbond', { amount: '1' }],
      ['/api/v1/stake/withdraw', {}],
      ['/api/v1/channels'],
      ['/api/v1/channels', { to: payee.peerId, deposit: '1' }],
      [`/api/v1/channels/${channel}/pay`, { amount: '1' }],
      [`/api/v1/channels/${channel}/topup`, { amount: '1' }],
      [`/api/v1/channels/${channel}/extend`, { expirySeconds: 3600 }],
      [`/api/v1/channels/${channel}/claim`, {}],
      [`/api/v1/channels/${channel}/close`, {}],
    ]
    for (const [path, body] of calls) {
      const res = await api<{ error: { code: string; message: string } }>(offline, path, body)
      assert.equal(res.status, 503, path)
      assert.equal(res.body.error.code, 'CHAIN_NOT_CONFIGURED', path)
      assert.match(res.body.error.message, /--devnet/)
    }
    // the rest of the node works
    assert.equal((await api(offline, '/api/v1/node/status')).status, 200)
  })

  it('governance: propose → vote → queue → execute; a running node exposes the new parameter and claims with it', async () => {
    const before = await params(payer)
    assert.equal(before.networkFeeBps, '200')
    const voter = await devnetFaucetVoter(devnet.deployment)
    await passProposalOnDevnet(
      voter,
      devnet.deployment,
      parameterProposal(devnet.deployment, { networkFeeBps: 150n }, 'Lower the network fee'),
    )
    for (const node of [payer, payee]) {
      await waitFor(
        'the new fee on the running node',
        async () => (await params(node)).networkFeeBps === '150',
      )
    }

    // the payee's next claim pays the treasury the new fee
    const { treasury } = await feeSetup()
    const opened = await ok<{ channel: string }>(payer, '/api/v1/channels', {
      to: payee.peerId,
      deposit: (4n * FTNS).toString(),
    })
    await ok(payer, `/api/v1/channels/${opened.channel}/pay`, { amount: (4n * FTNS).toString() })
    const t0 = await balance(payer, treasury)
    await ok(payee, `/api/v1/channels/${opened.channel}/claim`, {})
    assert.equal((await balance(payer, treasury)) - t0, (4n * FTNS * 150n) / 10_000n)
  })

  async function feeSetup(): Promise<{ treasury: string; fee: bigint }> {
    const chain = await ok<{ addresses: { timelock: string } }>(payer, '/api/v1/chain')
    return { treasury: chain.addresses.timelock, fee: BigInt((await params(payer)).networkFeeBps as string) }
  }
})
