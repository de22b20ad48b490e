// Two PRSM nodes on a devnet: one pays the other over /prsm/pay/1.0.0; the payee claims.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FTNS, startDevnet } from '@prsm/contracts'
import { formatFtns, loadConfig } from '@prsm/core'
import { initIdentity, loadIdentity, PrsmNode } from '@prsm/node'

const root = await mkdtemp(join(tmpdir(), 'prsm-example-'))
const devnet = await startDevnet({ dir: join(root, 'devnet') })

async function start(name: string, flags: Record<string, unknown>): Promise<PrsmNode> {
  const dataDir = join(root, name)
  await initIdentity(dataDir, { password: null }) // development only: keys without a password
  const { config } = loadConfig({
    // the same as `prsm node start --devnet FILE`; on a devnet the node funds itself from the faucet
    flags: { logLevel: 'warn', chain: { deployment: devnet.deploymentFile }, ...flags },
  })
  const node = await PrsmNode.create({
    config,
    identity: await loadIdentity(dataDir, null),
    dataDir,
    api: false,
  })
  await node.start()
  return node
}

const payee = await start('payee', {})
const payer = await start('payer', { bootstrap: payee.multiaddrs() })
try {
  const before = await payee.ledger.wallet.balance()

  // The payee's wallet is found from its PeerId (registry binding, or by asking its node).
  const channel = await payer.payments.openChannel({ to: payee.peerId, deposit: 10n * FTNS })
  console.log('channel', channel.channel, 'to', channel.payee)

  // Each payment: the payer signs the next voucher, the payee's node accepts it durably and signs a receipt.
  for (let i = 0; i < 5; i++) {
    const receipt = await payer.payments.pay(channel.channel, FTNS / 4n)
    console.log(
      'receipt: +',
      formatFtns(receipt.increment),
      'FTNS, total',
      formatFtns(receipt.cumulativeAmount),
    )
  }

  // The payee claims (its claim loop would do it at chain.claimThreshold or near expiry).
  await payee.ledger.reconciler.claim(channel.channel)
  const fee = (5n * (FTNS / 4n) * payee.ledger.parameters.get('networkFeeBps')) / 10_000n
  const after = await payee.ledger.wallet.balance()
  assert.equal(after.ftns - before.ftns, 5n * (FTNS / 4n) - fee)
  console.log('payee received', formatFtns(after.ftns - before.ftns), 'FTNS after the network fee')
} finally {
  await payer.stop()
  await payee.stop()
  await devnet.stop()
  await rm(root, { recursive: true, force: true })
}
