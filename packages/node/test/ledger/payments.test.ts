import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  FTNS,
  normalizeRoyalties,
  paymentChannelsAbi,
  type SignedVoucher,
  signVoucher,
  voucherDomain,
  voucherToJson,
} from '@prsm/contracts'
import { type Address, getAddress, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { isLedgerError, type LedgerErrorCode } from '../../src/ledger/errors.ts'
import { createLedger, type Ledger } from '../../src/ledger/ledger.ts'
import { createVoucherJournal } from '../../src/ledger/voucher-journal.ts'
import { type LedgerFixture, setupLedgerChain } from './helpers.ts'

const addr = (): Address => getAddress(`0x${randomBytes(20).toString('hex')}`)

async function rejectsWith(p: Promise<unknown> | (() => unknown), code: LedgerErrorCode): Promise<void> {
  await assert.rejects(
    async () => (typeof p === 'function' ? p() : p),
    (err: unknown) => {
      assert.ok(isLedgerError(err), `not a ledger error: ${String(err)}`)
      assert.equal(err.code, code, err.message)
      return true
    },
  )
}

describe('ledger payments on a devnet', () => {
  let f: LedgerFixture
  let payer: Ledger
  let payee: Ledger
  let third: Ledger
  const open = (deposit: bigint, expirySeconds = 3600) =>
    payer.payer.openChannel({ payee: payee.wallet.address, deposit, expirySeconds })

  before(async () => {
    f = await setupLedgerChain()
    payer = f.ledger(1, 'payer')
    payee = f.ledger(2, 'payee')
    third = f.ledger(3, 'third')
    for (const l of [payer, payee, third]) await l.start()
  })
  after(async () => {
    for (const l of [payer, payee, third]) await l?.stop()
    await f?.stop()
  })

  it('answers CHAIN_NOT_CONFIGURED without a chain, and still constructs', async () => {
    const off = createLedger({ journalPath: join(f.dir, 'off.db') }, {})
    assert.equal(off.enabled, false)
    await off.start()
    await rejectsWith(() => off.payee.acceptVoucher({}), 'CHAIN_NOT_CONFIGURED')
    await rejectsWith(() => off.wallet.balance(), 'CHAIN_NOT_CONFIGURED')
    await off.stop()
  })

  it('accepts increasing vouchers, journals each durably, and rejects replays and lower ones', async () => {
    const ch = await open(100n * FTNS)
    const v1 = payer.payer.pay(ch.channel, 1n * FTNS)
    const v2 = payer.payer.pay(ch.channel, 2n * FTNS)
    const a1 = await payee.payee.acceptVoucher(voucherToJson(v1))
    assert.equal(a1.increment, 1n * FTNS)
    const a2 = await payee.payee.acceptVoucher(v2)
    assert.equal(a2.increment, 2n * FTNS)
    await rejectsWith(payee.payee.acceptVoucher(v2), 'VOUCHER_NOT_MONOTONIC')
    await rejectsWith(payee.payee.acceptVoucher(v1), 'VOUCHER_NOT_MONOTONIC')
    // A second connection to the same file sees the committed voucher.
    const reader = createVoucherJournal({ path: join(f.dir, 'payee.db') })
    assert.equal(reader.newest(ch.channel)?.cumulativeAmount, 3n * FTNS)
    reader.close()
  })

  it('checks price, deposit (refreshing after a top-up) and signature', async () => {
    const ch = await open(10n * FTNS)
    const domain = voucherDomain(f.deployment.chainId, f.deployment.addresses.channels)
    const sign = (amount: bigint, key: Hex = f.key(1), d = domain): SignedVoucher =>
      signVoucher(
        { channel: ch.channel, cumulativeAmount: amount, royalties: [] },
        { domain: d, privateKey: key },
      )
    await rejectsWith(payee.payee.acceptVoucher(sign(1n), { minIncrement: 2n }), 'VOUCHER_UNDERPAID')
    await rejectsWith(payee.payee.acceptVoucher(sign(11n * FTNS)), 'VOUCHER_OVER_DEPOSIT')
    await rejectsWith(payee.payee.acceptVoucher(sign(1n, f.key(3))), 'VOUCHER_BAD_SIGNATURE')
    await rejectsWith(
      payee.payee.acceptVoucher(sign(1n, f.key(1), voucherDomain(1, f.deployment.addresses.channels))),
      'VOUCHER_BAD_SIGNATURE',
    )
    await payer.payer.topUp(ch.channel, 5n * FTNS)
    await payee.payee.acceptVoucher(sign(11n * FTNS))
    await rejectsWith(payee.payee.acceptVoucher({ channel: ch.channel, nonsense: true }), 'VOUCHER_MALFORMED')
  })

  it('checks the royalty table: cap, no decrease, no more royalty than payment', async () => {
    const ch = await open(1_000n)
    const [a, b] = [addr(), addr()]
    const domain = voucherDomain(f.deployment.chainId, f.deployment.addresses.channels)
    const sign = (amount: bigint, royalties: { creator: Address; amount: bigint }[]) =>
      signVoucher(
        { channel: ch.channel, cumulativeAmount: amount, royalties: normalizeRoyalties(royalties) },
        { domain, privateKey: f.key(1) },
      )
    const ch2 = await open(1_000n)
    const sign2 = (amount: bigint, royalties: { creator: Address; amount: bigint }[]) =>
      signVoucher(
        { channel: ch2.channel, cumulativeAmount: amount, royalties: normalizeRoyalties(royalties) },
        { domain, privateKey: f.key(1) },
      )
    await rejectsWith(
      payee.payee.acceptVoucher(sign(100n, [{ creator: a, amount: 21n }])),
      'VOUCHER_ROYALTY_CAP',
    )
    await payee.payee.acceptVoucher(
      sign(100n, [
        { creator: a, amount: 10n },
        { creator: b, amount: 10n },
      ]),
    )
    await rejectsWith(
      payee.payee.acceptVoucher(
        sign(200n, [
          { creator: a, amount: 5n },
          { creator: b, amount: 20n },
        ]),
      ),
      'VOUCHER_ROYALTY_DECREASED',
    )
    await rejectsWith(
      payee.payee.acceptVoucher(sign(200n, [{ creator: a, amount: 30n }])),
      'VOUCHER_ROYALTY_DECREASED',
    )
    // +1 of payment carrying +20 of royalty: within the cap overall, but more royalty than payment.
    await payee.payee.acceptVoucher(sign2(100n, []))
    await rejectsWith(
      payee.payee.acceptVoucher(sign2(101n, [{ creator: a, amount: 20n }])),
      'VOUCHER_ROYALTY_OVER_PAYMENT',
    )
    // The payer side refuses to sign over the cap too.
    await rejectsWith(
      () => payer.payer.pay(ch.channel, 10n, [{ creator: a, amount: 3n }]),
      'VOUCHER_ROYALTY_CAP',
    )
  })

  it('rejects unknown, foreign, closed and (nearly) expired channels', async () => {
    const domain = voucherDomain(f.deployment.chainId, f.deployment.addresses.channels)
    const unknown = signVoucher(
      { channel: `0x${randomBytes(32).toString('hex')}`, cumulativeAmount: 1n, royalties: [] },
      { domain, privateKey: f.key(1) },
    )
    await rejectsWith(payee.payee.acceptVoucher(unknown), 'CHANNEL_UNKNOWN')
    const toThird = await payer.payer.openChannel({ payee: third.wallet.address, deposit: 10n })
    await rejectsWith(payee.payee.acceptVoucher(payer.payer.pay(toThird.channel, 1n)), 'CHANNEL_WRONG_PAYEE')
    const short = await open(10n, 200) // inside the 300 s safety margin
    await rejectsWith(payee.payee.acceptVoucher(payer.payer.pay(short.channel, 1n)), 'CHANNEL_EXPIRED')
    const closing = await open(10n)
    await payee.payee.acceptVoucher(payer.payer.pay(closing.channel, 1n))
    const closed = await payee.reconciler.close(closing.channel)
    assert.equal(closed.action, 'claimed')
    await rejectsWith(payee.payee.acceptVoucher(payer.payer.pay(closing.channel, 1n), {}), 'CHANNEL_CLOSED')
  })

  it('serialises concurrent vouchers on one channel: the journal keeps the highest', async () => {
    const ch = await open(1_000n)
    const vouchers = Array.from({ length: 25 }, () => payer.payer.pay(ch.channel, 1n))
    const shuffled = [...vouchers].sort(() => Math.random() - 0.5)
    const results = await Promise.allSettled(shuffled.map((v) => payee.payee.acceptVoucher(v)))
    const ok = results.filter((r) => r.status === 'fulfilled')
    for (const r of results) {
      if (r.status === 'rejected') assert.equal((r.reason as { code: string }).code, 'VOUCHER_NOT_MONOTONIC')
    }
    assert.ok(ok.length >= 1)
    assert.equal(payee.journal.newest(ch.channel)?.cumulativeAmount, 25n)
    // Accepted increments add up to exactly the newest amount: nothing counted twice.
    const sum = ok.reduce(
      (s, r) => s + (r as PromiseFulfilledResult<{ increment: bigint }>).value.increment,
      0n,
    )
    assert.equal(sum, 25n)
  })

  it('the payer never signs below its journal after a restart', async () => {
    const ch = await open(100n)
    payer.payer.pay(ch.channel, 7n)
    const path = join(f.dir, 'payer.db')
    const again = createLedger(
      { journalPath: path, reconcile: false },
      { deployment: f.deployment, privateKey: f.key(1) },
    )
    const v = again.payer.pay(ch.channel, 1n)
    assert.equal(v.cumulativeAmount, 8n)
    again.journal.close()
    assert.equal(payer.payer.pay(ch.channel, 1n).cumulativeAmount, 9n)
  })

  it('reconciler: claims past the threshold, is idempotent, and pays royalties exactly', async () => {
    const creator = addr()
    const ch = await open(100n * FTNS, 4 * 3600) // beyond the 1 h claim-before-expiry margin
    await payee.payee.acceptVoucher(payer.payer.pay(ch.channel, 5n * FTNS, [{ creator, amount: 1n * FTNS }]))
    let results = await payee.reconciler.reconcileOnce()
    assert.equal(results.find((r) => r.channel === ch.channel)?.action, 'skipped') // below 10 FTNS
    await payee.payee.acceptVoucher(payer.payer.pay(ch.channel, 6n * FTNS, [{ creator, amount: 1n * FTNS }]))
    results = await payee.reconciler.reconcileOnce()
    assert.equal(results.find((r) => r.channel === ch.channel)?.action, 'claimed')
    results = await payee.reconciler.reconcileOnce()
    assert.equal(results.find((r) => r.channel === ch.channel)?.action, 'skipped')
    // Other channels were claimed in the same passes: look at this channel's Claimed event.
    const events = await payee.chain.publicClient.getContractEvents({
      address: f.deployment.addresses.channels,
      abi: paymentChannelsAbi,
      eventName: 'Claimed',
      args: { id: ch.channel },
      fromBlock: 0n,
    })
    assert.equal(events.length, 1)
    // 11 FTNS: 2 to the creator, 2 % fee (0.22), the rest to the payee.
    assert.equal(events[0]?.args.toPayee, 11n * FTNS - 2n * FTNS - (11n * FTNS * 200n) / 10_000n)
    assert.equal(events[0]?.args.fee, (11n * FTNS * 200n) / 10_000n)
    assert.equal((await payee.wallet.balance({ of: creator })).ftns, 2n * FTNS)
    const claims = payee.journal.claims(ch.channel)
    assert.deepEqual(
      claims.map((c) => [c.cumulativeAmount, c.status]),
      [[11n * FTNS, 'confirmed']],
    )
  })

  it('reconciler: claims a small amount when expiry nears, and gives up after expiry', async () => {
    const ch = await open(100n, 400)
    await payee.payee.acceptVoucher(payer.payer.pay(ch.channel, 3n))
    let r = (await payee.reconciler.reconcileOnce()).find((x) => x.channel === ch.channel)
    assert.equal(r?.action, 'claimed', 'within the 1 h expiry margin')
    const late = await open(100n, 3600 * 2)
    await payee.payee.acceptVoucher(payer.payer.pay(late.channel, 3n))
    await f.increaseTime(3600 * 2 + 10)
    await payee.channels.get(late.channel, { refresh: true })
    r = (await payee.reconciler.reconcileOnce()).find((x) => x.channel === late.channel)
    assert.equal(r?.action, 'expired')
    const refund = await payer.payer.reclaim(late.channel)
    assert.equal(refund.refunded, 100n)
  })

  it('two wallets: open, five vouchers, claim — balances match to the wei', async () => {
    const fee = 200n
    const p0 = await payer.wallet.balance()
    const q0 = await payee.wallet.balance()
    const t0 = await payee.wallet.balance({ of: f.deployment.addresses.timelock })
    const ch = await open(50n * FTNS)
    let total = 0n
    for (let i = 1n; i <= 5n; i++) {
      const amount = i * 1_234_567_891n
      total += amount
      await payee.payee.acceptVoucher(voucherToJson(payer.payer.pay(ch.channel, amount)))
    }
    const claim = await payee.reconciler.claim(ch.channel)
    assert.equal(claim.action, 'claimed')
    const p1 = await payer.wallet.balance()
    const q1 = await payee.wallet.balance()
    const t1 = await payee.wallet.balance({ of: f.deployment.addresses.timelock })
    const onChain = await payee.chain.publicClient.readContract({
      address: f.deployment.addresses.channels,
      abi: paymentChannelsAbi,
      functionName: 'getChannel',
      args: [ch.channel],
    })
    assert.equal(onChain.claimed, total)
    assert.equal(p0.ftns - p1.ftns, 50n * FTNS) // escrowed
    assert.equal(q1.ftns - q0.ftns, total - (total * fee) / 10_000n)
    assert.equal(t1.ftns - t0.ftns, (total * fee) / 10_000n)
  })

  it('resolves a payee from a registered PeerId with a valid binding', async () => {
    const { generateKeyPairSync, sign } = await import('node:crypto')
    const { publicKey, privateKey } = generateKeyPairSync('ed25519')
    const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url')
    const peerId = new Uint8Array([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...raw])
    const provider = createLedger(
      { journalPath: join(f.dir, 'provider.db'), reconcile: false },
      {
        deployment: f.deployment,
        privateKey: f.key(4),
        nodeKey: { peerId, sign: (m) => sign(null, m, privateKey) },
      },
    )
    const r = await provider.wallet.stakeAdd(100n * FTNS)
    assert.equal(r.registered, true)
    const status = await provider.wallet.stakeStatus()
    assert.equal(status.stake, 100n * FTNS)
    assert.equal(await payer.wallet.resolvePayee(peerId), privateKeyToAccount(f.key(4)).address)
    const b58 = toBase58(peerId)
    assert.ok(b58.startsWith('12D3KooW'))
    assert.equal(await payer.wallet.resolvePayee(b58), privateKeyToAccount(f.key(4)).address)
    await rejectsWith(payer.wallet.resolvePayee(new Uint8Array(38)), 'PAYEE_UNRESOLVED')
    provider.journal.close()
  })
})

function toBase58(bytes: Uint8Array): string {
  const A = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
  let n = BigInt(`0x${Buffer.from(bytes).toString('hex')}`)
  let out = ''
  while (n > 0n) {
    out = A[Number(n % 58n)] + out
    n /= 58n
  }
  for (const b of bytes) {
    if (b !== 0) break
    out = `1${out}`
  }
  return out
}

export type { Hex }
