import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { lpStream } from '@libp2p/utils'
import { type Devnet, FTNS, startDevnet } from '@prsm/contracts'
import { hasCode, type MessageType, sealEnvelope } from '@prsm/core'
import { splitPayment } from '@prsm/economics'
import { CID } from 'multiformats/cid'
import type { Hex } from 'viem'
import type { PrsmNode } from '../../src/node.ts'
import { PIN_PROTOCOL, verifyPinReceipt } from '../../src/storage/replication.ts'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from '../helpers.ts'
import { chunks, MiB } from './bytes.ts'

/** A raw signed pin request from `from` to `to`; returns the verified receipt (nothing is paid). */
async function requestWithoutPaying(from: PrsmNode, to: PrsmNode, cid: string) {
  const stream = await from.libp2p.dialProtocol(to.libp2p.peerId, PIN_PROTOCOL)
  const lp = lpStream(stream)
  const PinRequest: MessageType<unknown> = { type: 'pin-request', version: 1 }
  await lp.write(await sealEnvelope(from.identity.nodeKey, PinRequest, { cid, durationMs: 30 * 86_400_000 }))
  const receipt = await verifyPinReceipt((await lp.read()).subarray(), from.registry, {
    cid,
    holder: to.peerId,
  })
  await stream.close()
  return receipt
}

describe('payment for pins (requester and three priced holders on a devnet)', () => {
  let dir: string
  let devnet: Devnet
  let requester: PrsmNode
  let holders: PrsmNode[] = []
  // exactly 1 MiB for 30 days at p FTNS per GiB-month costs p/1024 FTNS
  const data = randomBytes(MiB)
  let cid: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'prsm-pin-payment-'))
    devnet = await startDevnet({ dir })
    const chain = { deployment: devnet.deploymentFile as string, reconcileIntervalMs: 600_000 }
    requester = await startTestNode({ config: { chain } })
    holders = await Promise.all(
      [
        { price: '0.001', grace: 60_000 },
        { price: '0.002', grace: 60_000 },
        // the dearest is not chosen by replicate; its short grace serves the unpaid case
        { price: '0.003', grace: 5_000 },
      ].map(({ price, grace }) =>
        startTestNode({
          config: {
            chain,
            bootstrap: [bootstrapAddr(requester)],
            offers: [{ capability: 'storage:pin', price, unit: 'gib-month' }],
            storage: { pinPaymentGraceMs: grace },
          },
        }),
      ),
    )
    cid = (await requester.storage.add(chunks(data))).cid
    await waitFor(
      'the requester knows the three storage:pin offers',
      () => requester.offers.knownOffers('storage:pin').length === 3,
      20_000,
    )
  })
  after(async () => {
    await stopAll([requester, ...holders].filter((n) => n !== undefined))
    await devnet?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('pays each holder the agreed price after its receipt; the holder journals it and a claim pays it', async () => {
    const state = await requester.replication.replicate(cid, 2)
    assert.equal(state.holders.length, 2)
    const expected = new Map([
      [holders[0]?.peerId, FTNS / 1000n / 1024n],
      [holders[1]?.peerId, (2n * FTNS) / 1000n / 1024n],
    ])
    for (const record of state.holders) {
      const holder = holders.find((h) => h.peerId === record.holder) as PrsmNode
      const price = expected.get(record.holder)
      assert.ok(price !== undefined, 'one of the two cheapest holders')
      assert.equal(record.payment?.state, 'paid', JSON.stringify(record.payment))
      assert.equal(record.payment?.amount, price.toString())
      const channel = record.payment?.channel as Hex
      // the channel was opened automatically with the configured deposit (10 FTNS)
      const opened = requester.ledger.payer.channels().find((c) => c.channel === channel)
      assert.equal(opened?.deposit, 10n * FTNS)
      assert.equal(opened?.cumulativeAmount, price)
      // the holder journalled a voucher for exactly the price
      const journalled = holder.ledger.journal.newest(channel.toLowerCase() as Hex)
      assert.equal(journalled?.cumulativeAmount, price)

      const before = (await holder.ledger.wallet.balance()).ftns
      const claim = await holder.ledger.reconciler.claim(channel)
      assert.equal(claim.action, 'claimed')
      assert.equal(claim.claimedOnChain, price)
      const split = splitPayment({
        amount: price,
        feeBps: holder.ledger.parameters.get('networkFeeBps'),
        royaltyCapBps: holder.ledger.parameters.get('royaltyCapBps'),
      })
      assert.ok(split.fee > 0n)
      assert.equal((await holder.ledger.wallet.balance()).ftns - before, price - split.fee)
    }
    // the payment state survives in the replica record
    assert.ok(requester.replication.get(cid).holders.every((h) => h.payment?.state === 'paid'))
  })

  it('pins asked of one holder at once are each paid on the one channel opened before', async () => {
    const cheap = holders[0] as PrsmNode
    const price = FTNS / 1000n / 1024n
    const channel = requester.replication.get(cid).holders.find((h) => h.holder === cheap.peerId)?.payment
      ?.channel as Hex
    const before = cheap.ledger.journal.newest(channel.toLowerCase() as Hex)?.cumulativeAmount ?? 0n
    const files = await Promise.all(
      [0, 1, 2].map(async () => (await requester.storage.add(chunks(randomBytes(MiB)))).cid),
    )
    const records = await Promise.all(files.map((c) => requester.replication.requestPin(cheap.peerId, c)))
    for (const r of records) {
      assert.equal(r.payment?.state, 'paid', JSON.stringify(r.payment))
      assert.equal(r.payment?.channel, channel, 'the channel opened before has room: no new one')
    }
    assert.deepEqual(
      records.map((r) => BigInt(r.payment?.cumulativeAmount ?? 0)).sort((a, b) => (a < b ? -1 : 1)),
      [before + price, before + 2n * price, before + 3n * price],
    )
    assert.equal(
      cheap.ledger.journal.newest(channel.toLowerCase() as Hex)?.cumulativeAmount,
      before + 3n * price,
    )
  })

  it('a requester that does not pay loses the pin after the grace period and is refused from then on', async () => {
    const dear = holders[2] as PrsmNode
    const { cid: unpaid } = await requester.storage.add(chunks(randomBytes(MiB)))
    // a raw signed pin request, answered with a receipt, and no payment after it
    const receipt = await requestWithoutPaying(requester, dear, unpaid)
    const owed = (3n * FTNS) / 1000n / 1024n
    assert.equal(receipt.amount, owed.toString())
    assert.equal(await dear.storage.helia.pins.isPinned(CID.parse(unpaid)), true)

    await waitFor(
      'the unpaid pin to be released',
      async () => !(await dear.storage.helia.pins.isPinned(CID.parse(unpaid))),
      20_000,
    )
    await assert.rejects(requester.replication.requestPin(dear.peerId, cid), (err) =>
      hasCode(err, 'PIN_PAYMENT_REQUIRED'),
    )
    assert.equal(await dear.storage.helia.pins.isPinned(CID.parse(cid)), false, 'nothing pinned for it')
    // another requester is still served (and pays)
    const other = holders[0] as PrsmNode
    await other.storage.add(chunks(data))
    // its channel is opened beforehand, so only the voucher has to arrive within the grace
    const opened = await other.payments.openChannel({ to: dear.peerId, deposit: FTNS })
    const record = await other.replication.requestPin(dear.peerId, cid)
    assert.equal(record.payment?.state, 'paid', JSON.stringify(record.payment))
    assert.equal(record.payment?.amount, owed.toString())
    assert.equal(record.payment?.channel, opened.channel)
    assert.equal(dear.ledger.journal.newest(opened.channel.toLowerCase() as Hex)?.cumulativeAmount, owed)
  })

  it('a holder that restarts still releases an unpaid pin when the grace ends', async () => {
    const config = {
      chain: { deployment: devnet.deploymentFile as string, reconcileIntervalMs: 600_000 },
      bootstrap: [bootstrapAddr(requester)],
      offers: [{ capability: 'storage:pin', price: '0.004', unit: 'gib-month' as const }],
      storage: { pinPaymentGraceMs: 6_000 },
    }
    let restarted = await startTestNode({ config, datastore: 'fs' })
    const dataDir = restarted.dataDir
    const asker = holders[1] as PrsmNode
    try {
      const { cid: unpaid } = await asker.storage.add(chunks(randomBytes(MiB)))
      await asker.libp2p.dial(restarted.libp2p.getMultiaddrs())
      const receipt = await requestWithoutPaying(asker, restarted, unpaid)
      assert.equal(receipt.amount, ((4n * FTNS) / 1000n / 1024n).toString())
      // stopped well within the grace: only the re-armed owed record can release it
      assert.equal(await restarted.storage.helia.pins.isPinned(CID.parse(unpaid)), true)
      await restarted.stop()
      restarted = await startTestNode({ config, dataDir, datastore: 'fs' })
      await waitFor(
        'the unpaid pin to be released after the restart',
        async () => !(await restarted.storage.helia.pins.isPinned(CID.parse(unpaid))),
        20_000,
      )
      await asker.libp2p.dial(restarted.libp2p.getMultiaddrs())
      await assert.rejects(asker.replication.requestPin(restarted.peerId, unpaid), (err) =>
        hasCode(err, 'PIN_PAYMENT_REQUIRED'),
      )
    } finally {
      await stopAll([restarted])
    }
  })
})
