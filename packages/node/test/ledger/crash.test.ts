/**
 * Crash safety: a payee process accepting vouchers and claiming them is killed with SIGKILL at
 * random points, at least 50 times, and restarted each time. Afterwards: every voucher it
 * acknowledged is in the journal, no claim was made twice, nothing was over-claimed, and the
 * creators and the payee hold exactly what the claimed vouchers say.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { FTNS, paymentChannelsAbi, type SignedVoucher, voucherToJson, writeDeployment } from '@prsm/contracts'
import { type Address, getAddress, type Hex } from 'viem'
import { createLedger, type Ledger } from '../../src/ledger/ledger.ts'
import { createVoucherJournal } from '../../src/ledger/voucher-journal.ts'
import { type LedgerFixture, setupLedgerChain } from './helpers.ts'

const KILLS = 55
const CHANNELS = 3
const VOUCHERS_PER_CHANNEL = 700
const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url))

let f: LedgerFixture
let payer: Ledger
before(async () => {
  f = await setupLedgerChain()
})
after(async () => {
  await payer?.stop()
  await f?.stop()
})

interface Life {
  acks: Map<string, bigint>
  claims: number
  done: boolean
  code: number | null
  signal: NodeJS.Signals | null
  stderr: string
}

function run(args: string[], env: NodeJS.ProcessEnv, killAfterReadyMs: number | undefined): Promise<Life> {
  return new Promise((resolve) => {
    const child: ChildProcess = spawn(process.execPath, [CHILD, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const life: Life = { acks: new Map(), claims: 0, done: false, code: null, signal: null, stderr: '' }
    let buffer = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      let i = buffer.indexOf('\n')
      while (i >= 0) {
        const [kind, a, b] = buffer.slice(0, i).split(' ')
        buffer = buffer.slice(i + 1)
        if (kind === 'READY' && killAfterReadyMs !== undefined) {
          setTimeout(() => child.kill('SIGKILL'), killAfterReadyMs)
        } else if (kind === 'ACK' && a && b) {
          const prev = life.acks.get(a) ?? 0n
          if (BigInt(b) > prev) life.acks.set(a, BigInt(b))
        } else if (kind === 'CLAIM') {
          life.claims++
        } else if (kind === 'DONE') {
          life.done = true
        }
        i = buffer.indexOf('\n')
      }
    })
    child.stderr?.on('data', (chunk: Buffer) => {
      life.stderr = (life.stderr + chunk.toString()).slice(-4000)
    })
    child.on('exit', (code, signal) => {
      life.code = code
      life.signal = signal
      resolve(life)
    })
  })
}

it(`survives ${KILLS} SIGKILLs during acceptance and claiming without losing or double-claiming`, async () => {
  const deploymentFile = join(f.dir, 'deployment.json')
  writeDeployment(deploymentFile, f.deployment)
  payer = createLedger(
    { journalPath: join(f.dir, 'payer.db'), reconcile: false },
    { deployment: f.deployment, privateKey: f.key(1) },
  )
  await payer.start()
  const payeeAddress = createLedger(
    { journalPath: ':memory:', reconcile: false },
    { deployment: f.deployment, privateKey: f.key(2) },
  ).wallet.address
  const creators: Address[] = [0, 1].map(() => getAddress(`0x${randomBytes(20).toString('hex')}`))

  // The payer opens channels and signs every voucher up front (interleaved across channels).
  const channels: Hex[] = []
  for (let c = 0; c < CHANNELS; c++) {
    channels.push(
      (await payer.payer.openChannel({ payee: payeeAddress, deposit: 1_000n * FTNS, expirySeconds: 86_400 }))
        .channel,
    )
  }
  const vouchers: SignedVoucher[] = []
  for (let i = 0; i < VOUCHERS_PER_CHANNEL; i++) {
    for (const ch of channels) {
      const amount = FTNS / 10n + BigInt(i)
      vouchers.push(
        payer.payer.pay(ch, amount, [{ creator: creators[i % 2] as Address, amount: amount / 10n }]),
      )
    }
  }
  const vouchersFile = join(f.dir, 'vouchers.json')
  writeFileSync(vouchersFile, JSON.stringify(vouchers.map(voucherToJson)))
  const journalPath = join(f.dir, 'payee.db')
  // The compile cache keeps each restart's module loading short (TS stripping, V8 code cache).
  const env = { ...process.env, PRSM_KEY: f.key(2), NODE_COMPILE_CACHE: join(f.dir, 'compile-cache') }
  const args = [deploymentFile, vouchersFile, journalPath]

  const acked = new Map<string, bigint>()
  let kills = 0
  let lives = 0
  let claimsSeen = 0
  const deadline = Date.now() + 150_000
  while (kills < KILLS) {
    assert.ok(Date.now() < deadline, `only ${kills} kills before the time budget ran out`)
    const life = await run(args, env, Math.floor(Math.random() * 350))
    lives++
    claimsSeen += life.claims
    for (const [ch, amount] of life.acks) if (amount > (acked.get(ch) ?? 0n)) acked.set(ch, amount)
    if (life.signal === 'SIGKILL') kills++
    else assert.equal(life.code, 0, `child failed: ${life.stderr}`)
    // After every death: every acknowledged voucher is in the journal.
    const journal = createVoucherJournal({ path: journalPath })
    for (const [ch, amount] of acked) {
      const newest = journal.newest(ch as Hex)?.cumulativeAmount ?? 0n
      assert.ok(newest >= amount, `life ${lives}: acknowledged ${amount} on ${ch} but journal has ${newest}`)
    }
    journal.close()
    if (life.done) break // everything was accepted and claimed before the kill landed
  }
  // A last run to completion (accepts the rest, claims everything).
  const last = await run(args, env, undefined)
  assert.equal(last.code, 0, last.stderr)
  assert.ok(last.done)

  // Chain: per channel, claims strictly increase (no double claim), never beyond the newest
  // accepted voucher or the deposit, and the final claim is the last voucher.
  const client = payer.chain.publicClient
  const journal = createVoucherJournal({ path: journalPath })
  let claimedTotal = 0n
  for (const ch of channels) {
    const events = await client.getContractEvents({
      address: f.deployment.addresses.channels,
      abi: paymentChannelsAbi,
      eventName: 'Claimed',
      args: { id: ch },
      fromBlock: f.deployment.deployBlock,
    })
    let previous = 0n
    let paid = 0n
    for (const e of events) {
      const amount = e.args.cumulativeAmount ?? 0n
      assert.ok(amount > previous, 'a claim did not increase the claimed total')
      paid += e.args.paid ?? 0n
      previous = amount
    }
    const state = await client.readContract({
      address: f.deployment.addresses.channels,
      abi: paymentChannelsAbi,
      functionName: 'getChannel',
      args: [ch],
    })
    const newest = journal.newest(ch)?.cumulativeAmount ?? 0n
    const lastSigned = vouchers.filter((v) => v.channel === ch).at(-1)?.cumulativeAmount
    assert.equal(paid, state.claimed, 'sum of claim deltas equals the claimed total')
    assert.ok(state.claimed <= newest && newest <= state.deposit, 'over-claimed')
    assert.equal(newest, lastSigned)
    assert.equal(state.claimed, lastSigned)
    claimedTotal += state.claimed
  }
  journal.close()
  // Creators hold exactly the royalties of the final vouchers.
  for (const [i, creator] of creators.entries()) {
    let expected = 0n
    for (const ch of channels) {
      const v = vouchers.filter((x) => x.channel === ch).at(-1)
      expected += v?.royalties.find((e) => e.creator === creator)?.amount ?? 0n
    }
    const balance = (await payer.wallet.balance({ of: creator })).ftns
    assert.equal(balance, expected, `creator ${i}`)
  }
  const payeeBalance = (await payer.wallet.balance({ of: payeeAddress })).ftns
  const royalties = vouchers
    .slice(-CHANNELS)
    .reduce((s, v) => s + v.royalties.reduce((t, e) => t + e.amount, 0n), 0n)
  assert.ok(kills >= 50 || lives > kills, `killed ${kills} times`)
  assert.ok(claimsSeen > 0, 'claims happened before kills')
  // Payee got everything claimed minus royalties and the 2 % fee (rounded per claim, down).
  assert.ok(
    payeeBalance <= 1_000_000n * FTNS + claimedTotal - royalties - (claimedTotal * 200n) / 10_000n + 1000n,
  )
  assert.ok(
    payeeBalance >= 1_000_000n * FTNS + claimedTotal - royalties - (claimedTotal * 200n) / 10_000n - 1000n,
  )
})
