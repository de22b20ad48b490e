// Governance on a devnet: a proposal changes the network fee; a running node sees it live.
import { devnetFaucetVoter, parameterProposal, passProposalOnDevnet, startDevnet } from '@prsm/contracts'
import { createLedgerChain, createParameterWatcher } from '@prsm/node/ledger'

const devnet = await startDevnet()
const { deployment } = devnet
try {
  // A node watching the ParameterRegistry (it polls one version counter).
  const node = createLedgerChain({
    deployment,
    privateKey: deployment.devnet?.accounts[0]?.privateKey as `0x${string}`,
  })
  const parameters = createParameterWatcher({ chain: node }, { pollIntervalMs: 100 })
  await parameters.start()
  console.log('network fee before:', parameters.get('networkFeeBps'), 'bps')
  const changed = new Promise<void>((resolve) => parameters.onChange(() => resolve()))

  // The faucet holds enough FTNS for quorum on a devnet: delegate, propose, vote, queue, execute.
  const voter = await devnetFaucetVoter(deployment)
  await passProposalOnDevnet(
    voter,
    deployment,
    parameterProposal(deployment, { networkFeeBps: 150n }, 'Lower the fee'),
  )

  await changed
  console.log('network fee after: ', parameters.get('networkFeeBps'), 'bps')
  parameters.stop()
} finally {
  await devnet.stop()
}
