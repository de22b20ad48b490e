/**
 * Property-based tests: random sequences of open / sign voucher / claim / top up / time / reclaim
 * run against the real contract on anvil and a simple model, asserting after every run:
 *   - total paid out ≤ total deposited, and the contract holds exactly the difference;
 *   - each channel's claimed amount never decreases;
 *   - tokens are conserved across everyone involved;
 *   - every creator received exactly the royalties signed for in the claimed vouchers.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import { type Address, getAddress, type Hex, maxUint256 } from 'viem'
import { ftnsTokenAbi } from '../src/generated/FTNSToken.ts'
import { paymentChannelsAbi } from '../src/generated/PaymentChannels.ts'
import { normalizeRoyalties, type SignedVoucher, signVoucher, toContractVoucher } from '../src/voucher.ts'
import { balanceOf, type Fixture, send, setupChain } from './fixtures.ts'

const PAYERS = [1, 2] as const
const PAYEES = [3, 4] as const
const FEE_BPS = 200n
const CAP_BPS = 2_000n

type Op =
  | { kind: 'open'; payer: number; payee: number; deposit: bigint; ttl: number }
  | { kind: 'sign'; ch: number; inc: bigint; pcts: number[]; overshoot: boolean }
  | { kind: 'claim'; ch: number; back: number }
  | { kind: 'topup'; ch: number; amount: bigint }
  | { kind: 'time'; seconds: number }
  | { kind: 'reclaim'; ch: number }

const openArb = fc.record({
  kind: fc.constant('open' as const),
  payer: fc.constantFrom(...PAYERS),
  payee: fc.constantFrom(...PAYEES),
  deposit: fc.bigInt({ min: 1n, max: 10_000n }),
  ttl: fc.integer({ min: 60, max: 900 }),
})

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: openArb, weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant('sign' as const),
      ch: fc.nat(),
      inc: fc.bigInt({ min: 0n, max: 3_000n }),
      // per-creator share of the increment in bps; the sum is scaled under the cap below
      pcts: fc.array(fc.integer({ min: 0, max: 2_000 }), { minLength: 3, maxLength: 3 }),
      overshoot: fc.constantFrom(false, false, false, true),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('claim' as const),
      ch: fc.nat(),
      back: fc.integer({ min: 0, max: 2 }),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('topup' as const),
      ch: fc.nat(),
      amount: fc.bigInt({ min: 1n, max: 5_000n }),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({ kind: fc.constant('time' as const), seconds: fc.integer({ min: 1, max: 600 }) }),
    weight: 1,
  },
  { arbitrary: fc.record({ kind: fc.constant('reclaim' as const), ch: fc.nat() }), weight: 1 },
)

/** Every run starts with two channels, then a random sequence. */
const runArb = fc
  .tuple(fc.array(openArb, { minLength: 2, maxLength: 2 }), fc.array(opArb, { minLength: 6, maxLength: 20 }))
  .map(([opens, ops]): Op[] => [...opens, ...ops])

interface ModelChannel {
  id: Hex
  payer: number
  payee: number
  deposit: bigint
  claimed: bigint
  expiry: bigint
  closed: boolean
  signed: SignedVoucher[]
  royaltyPaid: Map<Address, bigint>
}

describe('PaymentChannels properties', () => {
  let f: Fixture
  let creators: Address[]
  let everyone: Address[]
  before(async () => {
    f = await setupChain()
    creators = [0, 1, 2].map(() => getAddress(`0x${randomBytes(20).toString('hex')}`))
    const { token, channels } = f.deployment.addresses
    for (const p of PAYERS) {
      await send(f.client(p), {
        address: token,
        abi: ftnsTokenAbi,
        functionName: 'approve',
        args: [channels, maxUint256],
      })
    }
    everyone = [
      ...PAYERS.map((i) => f.client(i).account.address),
      ...PAYEES.map((i) => f.client(i).account.address),
      ...creators,
      f.deployment.addresses.timelock,
      channels,
    ]
  })
  after(() => f.stop())

  it('conserves tokens, never over-pays, never lowers a claim, pays creators exactly what was signed', async () => {
    const { channels } = f.deployment.addresses
    await fc.assert(
      fc.asyncProperty(runArb, async (ops) => {
        const snap = await f.snapshot()
        try {
          const model: ModelChannel[] = []
          const start = new Map<Address, bigint>()
          for (const a of everyone) start.set(a, await balanceOf(f, a))
          let deposited = 0n
          let paidOut = 0n
          const creatorSigned = new Map<Address, bigint>()

          for (const op of ops) {
            const now = await f.now()
            const pick = (n: number) => (model.length === 0 ? undefined : model[n % model.length])
            // Avoid the one-second ambiguity of the next block's timestamp around an expiry.
            const near = (c: ModelChannel) => c.expiry - now <= 2n && c.expiry - now >= -1n

            if (op.kind === 'open') {
              const payer = f.client(op.payer)
              const payee = f.client(op.payee).account.address
              const salt = `0x${randomBytes(32).toString('hex')}` as Hex
              const expiry = now + BigInt(op.ttl)
              await send(payer, {
                address: channels,
                abi: paymentChannelsAbi,
                functionName: 'open',
                args: [payee, op.deposit, expiry, salt],
              })
              const id = await payer.readContract({
                address: channels,
                abi: paymentChannelsAbi,
                functionName: 'channelId',
                args: [payer.account.address, payee, salt],
              })
              model.push({
                id,
                payer: op.payer,
                payee: op.payee,
                deposit: op.deposit,
                claimed: 0n,
                expiry,
                closed: false,
                signed: [],
                royaltyPaid: new Map(),
              })
              deposited += op.deposit
            } else if (op.kind === 'sign') {
              const c = pick(op.ch)
              if (!c) continue
              const last = c.signed.at(-1)
              const base = last?.cumulativeAmount ?? 0n
              // Usually stay within the deposit; sometimes overshoot to exercise OverDeposit.
              const room = c.deposit > base ? c.deposit - base : 0n
              const inc = op.overshoot ? op.inc : room === 0n ? 0n : op.inc % (room + 1n)
              const amount = base + inc
              const sum = BigInt(op.pcts.reduce((a, b) => a + b, 0))
              const scale = sum > CAP_BPS ? sum : CAP_BPS
              const royalties = normalizeRoyalties(
                creators.map((creator, i) => {
                  const prev = last?.royalties.find((e) => e.creator === creator)?.amount ?? 0n
                  // prev + inc * pct/10000, the shares summing to at most the cap
                  return {
                    creator,
                    amount: prev + (inc * BigInt(op.pcts[i] ?? 0) * CAP_BPS) / (scale * 10_000n),
                  }
                }),
              )
              c.signed.push(
                signVoucher(
                  { channel: c.id, cumulativeAmount: amount, royalties },
                  { domain: f.domain, privateKey: f.privateKey(c.payer) },
                ),
              )
            } else if (op.kind === 'claim') {
              const c = pick(op.ch)
              if (!c || c.signed.length === 0 || near(c)) continue
              const v = c.signed[Math.max(0, c.signed.length - 1 - op.back)] as SignedVoucher
              const ok =
                !c.closed &&
                now < c.expiry &&
                v.cumulativeAmount > c.claimed &&
                v.cumulativeAmount <= c.deposit
              const call = send(f.client(c.payee), {
                address: channels,
                abi: paymentChannelsAbi,
                functionName: 'claim',
                args: [c.id, toContractVoucher(v)],
              })
              if (!ok) {
                await assert.rejects(call)
                continue
              }
              await call
              const delta = v.cumulativeAmount - c.claimed
              c.claimed = v.cumulativeAmount
              paidOut += delta
              for (const e of v.royalties) {
                const before = c.royaltyPaid.get(e.creator) ?? 0n
                creatorSigned.set(e.creator, (creatorSigned.get(e.creator) ?? 0n) + (e.amount - before))
                c.royaltyPaid.set(e.creator, e.amount)
              }
            } else if (op.kind === 'topup') {
              const c = pick(op.ch)
              if (!c || near(c)) continue
              const call = send(f.client(c.payer), {
                address: channels,
                abi: paymentChannelsAbi,
                functionName: 'topUp',
                args: [c.id, op.amount],
              })
              if (c.closed || now >= c.expiry) {
                await assert.rejects(call)
                continue
              }
              await call
              c.deposit += op.amount
              deposited += op.amount
            } else if (op.kind === 'time') {
              await f.increaseTime(op.seconds)
            } else if (op.kind === 'reclaim') {
              const c = pick(op.ch)
              if (!c || near(c)) continue
              const call = send(f.client(c.payer), {
                address: channels,
                abi: paymentChannelsAbi,
                functionName: 'reclaim',
                args: [c.id],
              })
              if (c.closed || now < c.expiry) {
                await assert.rejects(call)
                continue
              }
              await call
              paidOut += c.deposit - c.claimed
              c.closed = true
            }

            // Claimed never decreases and matches the model.
            for (const c of model) {
              const state = await f.client(0).readContract({
                address: channels,
                abi: paymentChannelsAbi,
                functionName: 'getChannel',
                args: [c.id],
              })
              assert.equal(state.claimed, c.claimed)
              assert.equal(state.deposit, c.deposit)
              assert.equal(state.closed, c.closed)
            }
          }

          // Paid out ≤ deposited; the contract holds exactly the rest.
          assert.ok(paidOut <= deposited)
          const held = (await balanceOf(f, channels)) - (start.get(channels) ?? 0n)
          assert.equal(held, deposited - paidOut)
          // Conservation over everyone who can receive or send.
          let before = 0n
          let now = 0n
          for (const a of everyone) {
            before += start.get(a) ?? 0n
            now += await balanceOf(f, a)
          }
          assert.equal(now, before)
          // Creators got exactly what was signed in the claimed vouchers; on chain marks agree.
          for (const creator of creators) {
            assert.equal(
              (await balanceOf(f, creator)) - (start.get(creator) ?? 0n),
              creatorSigned.get(creator) ?? 0n,
            )
            for (const c of model) {
              const paid = await f.client(0).readContract({
                address: channels,
                abi: paymentChannelsAbi,
                functionName: 'royaltyPaid',
                args: [c.id, creator],
              })
              assert.equal(paid, c.royaltyPaid.get(creator) ?? 0n)
            }
          }
          // Fee: the treasury got at most FEE_BPS of everything claimed.
          const claimedTotal = model.reduce((s, c) => s + c.claimed, 0n)
          const treasury = f.deployment.addresses.timelock
          assert.ok(
            (await balanceOf(f, treasury)) - (start.get(treasury) ?? 0n) <=
              (claimedTotal * FEE_BPS) / 10_000n,
          )
        } finally {
          await f.revert(snap)
        }
      }),
      { numRuns: 60 },
    )
  })
})
