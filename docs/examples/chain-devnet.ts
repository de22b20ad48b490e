// Start a local devnet: anvil on a free loopback port, every contract deployed, accounts funded.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readDeployment, startDevnet } from '@prsm/contracts'

const dir = await mkdtemp(join(tmpdir(), 'prsm-devnet-'))
const devnet = await startDevnet({ dir })
try {
  // The deployment file is what `prsm node start --devnet FILE` reads.
  const deployment = readDeployment(devnet.deploymentFile as string)
  console.log('rpc', deployment.rpcUrl, 'chain', deployment.chainId)
  for (const [name, address] of Object.entries(deployment.addresses)) console.log(name.padEnd(10), address)
  console.log('funded dev accounts', deployment.devnet?.accounts.length)
} finally {
  await devnet.stop()
  await rm(dir, { recursive: true, force: true })
}
