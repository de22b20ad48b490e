import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { it } from 'node:test'
import { createPublicClient, erc20Abi, http } from 'viem'
import { FTNS } from '../src/deploy.ts'
import { parseDeployment, readDeployment } from '../src/deployment.ts'
import { DEFAULT_DEV_FUNDING, fundFromFaucet, startDevnet } from '../src/devnet.ts'

it('devnet up writes a deployment file, funds accounts, and reuses its state after a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'prsm-devnet-test-'))
  try {
    const first = await startDevnet({ dir })
    const file = first.deploymentFile as string
    const deployment = readDeployment(file)
    assert.equal(deployment.chainId, 31337)
    assert.match(deployment.rpcUrl, /^http:\/\/127\.0\.0\.1:\d+$/)
    const client = createPublicClient({ transport: http(deployment.rpcUrl) })
    const dev = deployment.devnet?.accounts[0]?.address as `0x${string}`
    const balance = () =>
      client.readContract({
        address: deployment.addresses.token,
        abi: erc20Abi,
        functionName: 'balanceOf',
        args: [dev],
      })
    assert.equal(await balance(), DEFAULT_DEV_FUNDING)
    const stranger = '0x000000000000000000000000000000000000dEaD'
    await fundFromFaucet(deployment, stranger, { ftns: 5n * FTNS, eth: 10n ** 17n })
    assert.equal(await client.getBalance({ address: stranger }), 10n ** 17n)
    await first.stop()

    const second = await startDevnet({ dir })
    try {
      const again = readDeployment(file)
      assert.deepEqual(again.addresses, deployment.addresses, 'the deployment was reused')
      assert.notEqual(again.rpcUrl, '')
      const c2 = createPublicClient({ transport: http(again.rpcUrl) })
      const kept = await c2.readContract({
        address: again.addresses.token,
        abi: erc20Abi,
        functionName: 'balanceOf',
        args: [stranger],
      })
      assert.equal(kept, 5n * FTNS, 'chain state persisted')
    } finally {
      await second.stop()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

it('readDeployment rejects malformed files with the field at fault', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prsm-deploy-file-'))
  try {
    const file = join(dir, 'd.json')
    const good = {
      format: 'prsm-deployment/1',
      chainId: 1,
      rpcUrl: 'https://rpc.example',
      deployBlock: '5',
      addresses: Object.fromEntries(
        ['token', 'timelock', 'governor', 'parameters', 'providers', 'channels'].map((k, i) => [
          k,
          `0x${String(i + 1).repeat(40)}`,
        ]),
      ),
    }
    writeFileSync(file, JSON.stringify(good))
    assert.equal(readDeployment(file).deployBlock, 5n)
    assert.throws(() => parseDeployment({ ...good, chainId: -1 }), /chainId/)
    assert.throws(
      () => parseDeployment({ ...good, addresses: { ...good.addresses, channels: '0x12' } }),
      /addresses\.channels/,
    )
    assert.throws(() => parseDeployment({ ...good, rpcUrl: 'nope' }), /rpcUrl/)
    assert.throws(() => parseDeployment({ ...good, devnet: { faucet: {}, accounts: [] } }), /devnet\.faucet/)
    writeFileSync(file, '{')
    assert.throws(() => readDeployment(file), /cannot read/)
    assert.ok(readFileSync(file, 'utf8'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
