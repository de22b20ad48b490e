import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { type MessageType, sealEnvelope } from '@prsm/core'
import { CID } from 'multiformats/cid'
import type { PrsmNode } from '../../src/node.ts'
import { verifyPinReceipt } from '../../src/storage/replication.ts'
import { bootstrapAddr, startTestNode, stopAll, waitFor } from '../helpers.ts'
import { chunks, MiB } from './bytes.ts'

describe('replication: paid pins with receipts, spot checks and re-replication', () => {
  let requester: PrsmNode
  let holders: PrsmNode[] = []
  const data = randomBytes(3 * MiB + 4321)
  let cid: string

  before(async () => {
    requester = await startTestNode()
    holders = await Promise.all(
      ['0.001', '0.002', '0.003', '0.004'].map((price) =>
        startTestNode({
          config: {
            bootstrap: [bootstrapAddr(requester)],
            offers: [{ capability: 'storage:pin', price }],
          },
        }),
      ),
    )
    cid = (await requester.storage.add(chunks(data))).cid
    await waitFor(
      'the requester knows the four storage:pin offers',
      () => requester.offers.knownOffers('storage:pin').length === 4,
      20_000,
    )
  })
  after(() => stopAll([requester, ...holders]))

  it('replicates to the three cheapest providers, each returning a signed receipt with its price', async () => {
    const state = await requester.replication.replicate(cid, 3)
    assert.equal(state.holders.length, 3)
    const byPeer = new Map(holders.map((h) => [h.peerId, h]))
    for (const record of state.holders) {
      const holder = byPeer.get(record.holder)
      assert.ok(holder, 'a holder is one of the providers')
      assert.equal(record.size, data.byteLength)
      assert.equal(record.price, holder.offers.localOffers()[0]?.offer.price)
      assert.ok(record.expiry > Date.now())
      const receipt = await verifyPinReceipt(Buffer.from(record.receipt, 'base64'), requester.registry, {
        cid,
        holder: record.holder,
      })
      assert.equal(receipt.cid, cid)
      // no chain: the price is quoted but nothing is charged or paid
      assert.equal(receipt.amount, undefined)
      assert.equal(record.payment, undefined)
      assert.equal(await holder.storage.helia.pins.isPinned(CID.parse(cid)), true)
    }
    // the three cheapest accepted: the most expensive provider holds nothing
    assert.deepEqual(
      new Set(state.holders.map((h) => h.holder)),
      new Set(holders.slice(0, 3).map((h) => h.peerId)),
    )
    const checks = await requester.replication.spotCheck(cid)
    assert.equal(checks.length, 3)
    assert.ok(checks.every((c) => c.ok && c.blocks === 3))
  })

  it('a holder that stops fails the spot check and a fourth provider receives the content and a receipt', async () => {
    const gone = holders[1] as PrsmNode
    const fourth = holders[3] as PrsmNode
    await gone.stop()
    const checks = await requester.replication.spotCheck(cid)
    const failed = checks.find((c) => c.holder === gone.peerId)
    assert.equal(failed?.ok, false)
    const state = requester.replication.get(cid)
    assert.equal(state.holders.length, 3)
    assert.ok(!state.holders.some((h) => h.holder === gone.peerId))
    assert.deepEqual(state.failed, [gone.peerId])
    const replacement = state.holders.find((h) => h.holder === fourth.peerId)
    assert.ok(replacement, 'the fourth provider holds a replica')
    await verifyPinReceipt(Buffer.from(replacement.receipt, 'base64'), requester.registry, {
      cid,
      holder: fourth.peerId,
    })
    assert.equal(await fourth.storage.helia.pins.isPinned(CID.parse(cid)), true)
    assert.equal((await fourth.storage.stat(cid)).local, true)
  })

  it('rejects forged receipts and reports a refusal from a node that does not offer storage:pin', async () => {
    const [h0, , h2] = holders as [PrsmNode, PrsmNode, PrsmNode]
    // h0 signs a receipt that names h2 as the holder
    const PinReceipt: MessageType<unknown> = { type: 'pin-receipt', version: 1 }
    const forged = await sealEnvelope(h0.identity.nodeKey, PinReceipt, {
      cid,
      holder: h2.peerId,
      price: '1',
      unit: 'gib-month',
      expiry: Date.now() + 1000,
      size: data.byteLength,
    } as never)
    await assert.rejects(verifyPinReceipt(forged, requester.registry, { cid, holder: h2.peerId }), {
      code: 'MESSAGE_BAD_SIGNATURE',
    })
    // a genuine receipt with one byte of its payload changed
    const genuine = Buffer.from(requester.replication.get(cid).holders[0]?.receipt ?? '', 'base64')
    const at = genuine.indexOf(Buffer.from(cid))
    assert.ok(at > 0)
    const tampered = Uint8Array.from(genuine)
    tampered[at + cid.length - 1] = cid.endsWith('a') ? 0x62 : 0x61
    await assert.rejects(verifyPinReceipt(tampered, requester.registry, { cid }), {
      code: 'MESSAGE_BAD_SIGNATURE',
    })
    // the requester itself offers nothing: it refuses
    await assert.rejects(h0.replication.requestPin(requester.peerId, cid), { code: 'PIN_REFUSED' })
  })

  it('a failed replicate does not leave a raised replica target', async () => {
    const before = requester.replication.get(cid)
    await assert.rejects(requester.replication.replicate(cid, 10), { code: 'REPLICATION_FAILED' })
    const after = requester.replication.get(cid)
    assert.equal(after.replicas, before.replicas)
    assert.equal(after.holders.length, before.holders.length)

    // a new CID nobody accepts more of than exist: the target is what was reached
    const { cid: other } = await requester.storage.add(chunks(randomBytes(1000)))
    await assert.rejects(requester.replication.replicate(other, 10), { code: 'REPLICATION_FAILED' })
    const state = requester.replication.get(other)
    assert.ok(state.holders.length > 0 && state.holders.length < 10)
    assert.equal(state.replicas, state.holders.length)
  })

  it('a holder releases the pin when the receipt expires, unless it had pinned the content itself', async () => {
    const h0 = holders[0] as PrsmNode
    const { cid: short } = await requester.storage.add(chunks(randomBytes(MiB + 5)))
    const { cid: own } = await requester.storage.add(chunks(randomBytes(2000)))
    await h0.storage.pin(own)
    const shortReceipt = await requester.replication.requestPin(h0.peerId, short, { durationMs: 1 })
    await requester.replication.requestPin(h0.peerId, own, { durationMs: 1 })
    assert.equal(await h0.storage.helia.pins.isPinned(CID.parse(short)), true)

    const released = await h0.replication.releaseExpired(shortReceipt.expiry + 1)
    assert.deepEqual(released, [short])
    assert.equal(await h0.storage.helia.pins.isPinned(CID.parse(short)), false)
    // its own pin and the 30-day replica of the first file stay
    assert.equal(await h0.storage.helia.pins.isPinned(CID.parse(own)), true)
    assert.equal(await h0.storage.helia.pins.isPinned(CID.parse(cid)), true)
    assert.deepEqual(await h0.replication.releaseExpired(shortReceipt.expiry + 1), [])
  })
})
