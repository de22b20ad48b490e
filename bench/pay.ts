/**
 * bench:pay — payment-channel throughput and cost, on one core (single thread).
 *
 *   voucher signatures/s      viem signTypedData vs the fast path (libsecp256k1 WASM)
 *   voucher verifications/s   viem recoverTypedDataAddress vs the fast path (cached payer key)
 *   durable acceptances/s     the payee's full check + SQLite journal commit (synchronous=FULL)
 *   added latency             p50/p99 of one acceptance: what a paid request waits for
 *   gas                       open (permit), claim (0 and 2 creators), close, reclaim on anvil
 *
 * Prints a table, then one JSON object as the last line.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createVoucherVerifier,
  type Deployment,
  FTNS,
  ftnsTokenAbi,
  normalizeRoyalties,
  paymentChannelsAbi,
  recoverVoucherSigner,
  type SignedVoucher,
  signVoucher,
  signVoucherWithAccount,
  startDevnet,
  toContractVoucher,
  voucherDomain,
} from '@prsm/contracts'
import {
  type Account,
  type Address,
  type Chain,
  getAddress,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'

// The ledger lives inside @prsm/node, which exports only its entry point: load it by path.
const ledgerUrl = new URL('../packages/node/src/ledger/index.ts', import.meta.url).href
const { createLedger } = (await import(ledgerUrl)) as { createLedger: CreateLedger }

/** The slice of the ledger API this bench uses (a relative type import would cross projects). */
interface BenchLedger {
  start(): Promise<void>
  stop(): Promise<void>
  wallet: { address: Address }
  chain: { walletClient: WalletClient<Transport, Chain, Account>; publicClient: PublicClient }
  payer: {
    openChannel(o: {
      payee: Address
      deposit: bigint
      expirySeconds: number
    }): Promise<{ channel: Hex; tx: { gasUsed: bigint } }>
    pay(channel: Hex, amount: bigint, royalties?: { creator: Address; amount: bigint }[]): SignedVoucher
    reclaim(channel: Hex): Promise<{ gasUsed: bigint }>
  }
  payee: { acceptVoucher(v: SignedVoucher): Promise<unknown> }
  reconciler: { close(channel: Hex): Promise<{ txHash?: Hex }> }
}
type CreateLedger = (
  init: { journalPath: string; reconcile: boolean; synchronous?: 'FULL' | 'NORMAL' },
  components: { deployment: Deployment; privateKey: Hex },
) => BenchLedger

const TARGET_MS = Number(process.env.BENCH_MS ?? 1500)
const SYNC = process.env.BENCH_SYNC === 'NORMAL' ? 'NORMAL' : 'FULL'
const dir = mkdtempSync(join(tmpdir(), 'prsm-bench-pay-'))
const devnet = await startDevnet()

try {
  const d = devnet.deployment
  const domain = voucherDomain(d.chainId, d.addresses.channels)
  const key = d.devnet?.accounts[0]?.privateKey as Hex
  const account = privateKeyToAccount(key)
  const channel = `0x${'42'.repeat(32)}` as Hex
  const creators = normalizeRoyalties([
    { creator: getAddress(`0x${'11'.repeat(20)}`), amount: 0n },
    { creator: getAddress(`0x${'22'.repeat(20)}`), amount: 0n },
  ])
  const voucherAt = (i: number) => ({
    channel,
    cumulativeAmount: BigInt(i + 1) * 1000n,
    royalties: creators.map((c) => ({ creator: c.creator, amount: BigInt(i + 1) * 50n })),
  })

  /** Runs `fn(i)` repeatedly for about TARGET_MS; returns operations per second. */
  async function rate(fn: (i: number) => unknown | Promise<unknown>, minOps = 50): Promise<number> {
    for (let i = 0; i < 20; i++) await fn(i) // warm up
    let ops = 0
    const start = performance.now()
    while (performance.now() - start < TARGET_MS || ops < minOps) {
      await fn(ops)
      ops++
    }
    return (ops / (performance.now() - start)) * 1000
  }

  // Signing.
  const signViem = await rate((i) => signVoucherWithAccount(voucherAt(i), { domain, account }))
  const signFast = await rate((i) => signVoucher(voucherAt(i), { domain, privateKey: key }))

  // Verification: a pool of pre-signed vouchers.
  const pool: SignedVoucher[] = Array.from({ length: 4000 }, (_, i) =>
    signVoucher(voucherAt(i), { domain, privateKey: key }),
  )
  const verifyViem = await rate(async (i) => {
    if ((await recoverVoucherSigner(domain, pool[i % pool.length] as SignedVoucher)) !== account.address)
      throw new Error('bad')
  })
  const verifier = createVoucherVerifier(domain)
  const verifyFast = await rate((i) => {
    if (!verifier.verify(pool[i % pool.length] as SignedVoucher, account.address)) throw new Error('bad')
  })

  // Durable acceptance: real payer and payee ledgers on the devnet.
  const payerKey = d.devnet?.accounts[1]?.privateKey as Hex
  const payeeKey = d.devnet?.accounts[2]?.privateKey as Hex
  const payer = createLedger(
    { journalPath: join(dir, 'payer.db'), reconcile: false },
    { deployment: d, privateKey: payerKey },
  )
  const payee = createLedger(
    { journalPath: join(dir, 'payee.db'), reconcile: false, synchronous: SYNC },
    { deployment: d, privateKey: payeeKey },
  )
  await payer.start()
  await payee.start()
  const CHANNELS = 16
  const PER_CHANNEL = 400
  const opened = []
  for (let c = 0; c < CHANNELS; c++) {
    opened.push(
      await payer.payer.openChannel({
        payee: payee.wallet.address,
        deposit: 10_000n * FTNS,
        expirySeconds: 86_400,
      }),
    )
  }
  const creator = getAddress(`0x${'33'.repeat(20)}`)
  const stream: SignedVoucher[] = []
  for (let i = 0; i < PER_CHANNEL; i++) {
    for (const ch of opened)
      stream.push(payer.payer.pay(ch.channel, FTNS / 100n, [{ creator, amount: FTNS / 1000n }]))
  }
  // Warm the channel cache (the first voucher of a channel reads the chain once).
  const warm = CHANNELS * 5
  for (const v of stream.slice(0, warm)) await payee.payee.acceptVoucher(v)
  const half = warm + Math.floor((stream.length - warm) / 2)

  // One request at a time: every acceptance pays its own fsync.
  const latencies: number[] = []
  let t0 = performance.now()
  for (const v of stream.slice(warm, half)) {
    const s = performance.now()
    await payee.payee.acceptVoucher(v)
    latencies.push(performance.now() - s)
  }
  const durable = latencies.length / ((performance.now() - t0) / 1000)
  latencies.sort((a, b) => a - b)

  // Many requests in flight (a busy provider): acceptances share commits.
  const IN_FLIGHT = 32
  const queue = stream.slice(half)
  const concurrentLatencies: number[] = []
  t0 = performance.now()
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      for (let v = queue.shift(); v; v = queue.shift()) {
        const s = performance.now()
        await payee.payee.acceptVoucher(v).catch((err: { code?: string }) => {
          // Two workers may race on one channel: the lower voucher is refused, as it must be.
          if (err.code !== 'VOUCHER_NOT_MONOTONIC') throw err
        })
        concurrentLatencies.push(performance.now() - s)
      }
    }),
  )
  const durableConcurrent = concurrentLatencies.length / ((performance.now() - t0) / 1000)
  concurrentLatencies.sort((a, b) => a - b)
  const pct = (list: number[], p: number) =>
    list[Math.min(list.length - 1, Math.floor((p / 100) * list.length))] ?? 0

  // Gas, measured from receipts.
  const gas: Record<string, number> = {}
  const fresh = await payer.payer.openChannel({
    payee: payee.wallet.address,
    deposit: 100n * FTNS,
    expirySeconds: 86_400,
  })
  gas.openWithPermit = Number(fresh.tx.gasUsed)
  {
    // approve + open (the path without a permit)
    const c = payer.chain
    const approve = await c.walletClient.writeContract({
      address: d.addresses.token,
      abi: ftnsTokenAbi,
      functionName: 'approve',
      args: [d.addresses.channels, 100n * FTNS],
    })
    const ra = await c.publicClient.waitForTransactionReceipt({ hash: approve })
    const expiry = BigInt(Math.floor(Date.now() / 1000) + 86_400 * 2)
    const open = await c.walletClient.writeContract({
      address: d.addresses.channels,
      abi: paymentChannelsAbi,
      functionName: 'open',
      args: [payee.wallet.address, 100n * FTNS, expiry, `0x${'77'.repeat(32)}`],
    })
    const ro = await c.publicClient.waitForTransactionReceipt({ hash: open })
    gas.approve = Number(ra.gasUsed)
    gas.open = Number(ro.gasUsed)
  }
  const claimGas = async (royalties: { creator: Address; amount: bigint }[]) => {
    const v = payer.payer.pay(fresh.channel, FTNS, royalties)
    const hash = await payee.chain.walletClient.writeContract({
      address: d.addresses.channels,
      abi: paymentChannelsAbi,
      functionName: 'claim',
      args: [fresh.channel, toContractVoucher(v)],
    })
    return Number((await payee.chain.publicClient.waitForTransactionReceipt({ hash })).gasUsed)
  }
  gas.claimNoRoyalty = await claimGas([])
  const two = [getAddress(`0x${'44'.repeat(20)}`), getAddress(`0x${'55'.repeat(20)}`)]
  gas.claimTwoCreatorsFirst = await claimGas(two.map((c) => ({ creator: c, amount: FTNS / 20n })))
  gas.claimTwoCreators = await claimGas(two.map((c) => ({ creator: c, amount: FTNS / 20n })))
  {
    const v = payer.payer.pay(fresh.channel, FTNS)
    await payee.payee.acceptVoucher(v)
    const r = await payee.reconciler.close(fresh.channel)
    const receipt = await payee.chain.publicClient.waitForTransactionReceipt({ hash: r.txHash as Hex })
    gas.closeWithFinalClaim = Number(receipt.gasUsed)
  }
  {
    const short = await payer.payer.openChannel({
      payee: payee.wallet.address,
      deposit: FTNS,
      expirySeconds: 60,
    })
    await fetch(d.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'evm_increaseTime', params: [120] }),
    })
    const r = await payer.payer.reclaim(short.channel)
    gas.reclaim = Number(r.gasUsed)
  }
  await payer.stop()
  await payee.stop()

  const figures = {
    bench: 'pay',
    cores: 1,
    signPerSecViem: Math.round(signViem),
    signPerSecFast: Math.round(signFast),
    verifyPerSecViem: Math.round(verifyViem),
    verifyPerSecFast: Math.round(verifyFast),
    verifySpeedup: Number((verifyFast / verifyViem).toFixed(1)),
    durableAcceptsPerSec: Math.round(durable),
    acceptP50Ms: Number(pct(latencies, 50).toFixed(3)),
    acceptP99Ms: Number(pct(latencies, 99).toFixed(3)),
    durableAcceptsPerSecConcurrent: Math.round(durableConcurrent),
    concurrentInFlight: IN_FLIGHT,
    concurrentP99Ms: Number(pct(concurrentLatencies, 99).toFixed(3)),
    journal: `sqlite WAL synchronous=${SYNC}, group commit`,
    gas,
  }
  const row = (name: string, value: string | number) =>
    console.log(`${name.padEnd(34)} ${String(value).padStart(14)}`)
  console.log('PRSM payment channels — one core')
  row('voucher sign/s (viem)', figures.signPerSecViem)
  row('voucher sign/s (fast)', figures.signPerSecFast)
  row('voucher verify/s (viem recover)', figures.verifyPerSecViem)
  row('voucher verify/s (fast, cached key)', figures.verifyPerSecFast)
  row('verify speed-up', `${figures.verifySpeedup}x`)
  row('durable acceptances/s (1 in flight)', figures.durableAcceptsPerSec)
  row('  p50 / p99 added latency (ms)', `${figures.acceptP50Ms} / ${figures.acceptP99Ms}`)
  row(`durable acceptances/s (${IN_FLIGHT} in flight)`, figures.durableAcceptsPerSecConcurrent)
  row('  p99 latency under load (ms)', figures.concurrentP99Ms)
  for (const [k, v] of Object.entries(gas)) row(`gas ${k}`, v)
  console.log(JSON.stringify(figures))
} finally {
  await devnet.stop()
  rmSync(dir, { recursive: true, force: true })
}
