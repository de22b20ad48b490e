import assert from 'node:assert/strict'
import { sign as edSign, generateKeyPairSync } from 'node:crypto'
import { after, before, beforeEach, describe, it } from 'node:test'
import { encodeFunctionData, type Hex, keccak256, stringToHex } from 'viem'
import { FTNS } from '../src/deploy.ts'
import { ftnsTokenAbi } from '../src/generated/FTNSToken.ts'
import { parameterRegistryAbi } from '../src/generated/ParameterRegistry.ts'
import { providerRegistryAbi } from '../src/generated/ProviderRegistry.ts'
import {
  castVote,
  delegateVotes,
  executeProposal,
  parameterProposal,
  passProposalOnDevnet,
  proposalState,
  propose,
  queueProposal,
} from '../src/governance.ts'
import { parameterKey } from '../src/parameters.ts'
import { peerBindingMessage, verifyPeerBinding } from '../src/peer-binding.ts'
import { balanceOf, expectRevert, type Fixture, send, setupChain } from './fixtures.ts'

function ed25519PeerId(): { peerId: Uint8Array; sign(msg: Uint8Array): Uint8Array } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url')
  const peerId = new Uint8Array([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...raw])
  return { peerId, sign: (msg) => edSign(null, msg, privateKey) }
}

describe('governance', () => {
  let f: Fixture
  let snap: Hex
  before(async () => {
    f = await setupChain()
    // The faucet (account 0) holds most of the circulating supply: enough for quorum.
    await delegateVotes(f.client(0), f.deployment)
    snap = await f.snapshot()
  })
  after(() => f.stop())
  beforeEach(async () => {
    await f.revert(snap)
    snap = await f.snapshot()
  })

  const read = (fn: 'networkFeeBps' | 'version') =>
    f.client(0).readContract({
      address: f.deployment.addresses.parameters,
      abi: parameterRegistryAbi,
      functionName: fn,
    })

  it('propose → vote → queue → execute changes a network parameter', async () => {
    const c = f.client(0)
    const d = f.deployment
    const p = parameterProposal(d, { networkFeeBps: 350n }, 'Raise the network fee to 3.5 %')
    const versionBefore = await read('version')
    const id = await propose(c, d, p)
    assert.equal(await proposalState(c, d, id), 'Pending')
    await f.increaseTime(2)
    assert.equal(await proposalState(c, d, id), 'Active')
    await castVote(c, d, id, 1)
    await castVote(f.client(1), d, id, 0) // a small holder votes against, without delegated votes
    await expectRevert(queueProposal(c, d, p), 'GovernorUnexpectedProposalState')
    await f.increaseTime(121)
    assert.equal(await proposalState(c, d, id), 'Succeeded')
    await queueProposal(c, d, p)
    assert.equal(await proposalState(c, d, id), 'Queued')
    await assert.rejects(executeProposal(c, d, p)) // the timelock delay has not passed
    await f.increaseTime(61)
    await executeProposal(c, d, p)
    assert.equal(await proposalState(c, d, id), 'Executed')
    assert.equal(await read('networkFeeBps'), 350n)
    assert.equal(await read('version'), versionBefore + 1n)
  })

  it('a proposal without quorum is defeated', async () => {
    const c = f.client(3)
    const d = f.deployment
    await delegateVotes(c, d) // 1M of 1.1B: far below the 4 % quorum
    const p = parameterProposal(d, { networkFeeBps: 999n }, 'Too few votes')
    const id = await propose(c, d, p)
    await f.increaseTime(2)
    await castVote(c, d, id, 1)
    await f.increaseTime(121)
    assert.equal(await proposalState(c, d, id), 'Defeated')
  })

  it('only the timelock sets parameters, within bounds', async () => {
    const set = (key: Hex, value: bigint) =>
      send(f.client(0), {
        address: f.deployment.addresses.parameters,
        abi: parameterRegistryAbi,
        functionName: 'set',
        args: [key, value],
      })
    await expectRevert(set(parameterKey('networkFeeBps'), 1n), 'OwnableUnauthorizedAccount')
    const d = f.deployment
    const tooHigh = parameterProposal(d, { royaltyCapBps: 9_900n }, 'fee + cap over 100 %')
    await assert.rejects(passProposalOnDevnet(f.client(0), d, tooHigh))
    assert.equal(await read('networkFeeBps'), 200n)
  })

  it('the deployer kept no admin power over the timelock', async () => {
    const timelock = f.deployment.addresses.timelock
    const abi = (await import('../src/generated/PRSMTimelock.ts')).prsmTimelockAbi
    const c = f.client(0)
    const admin = await c.readContract({ address: timelock, abi, functionName: 'DEFAULT_ADMIN_ROLE' })
    const proposer = await c.readContract({ address: timelock, abi, functionName: 'PROPOSER_ROLE' })
    assert.equal(
      await c.readContract({
        address: timelock,
        abi,
        functionName: 'hasRole',
        args: [admin, c.account.address],
      }),
      false,
    )
    assert.equal(
      await c.readContract({
        address: timelock,
        abi,
        functionName: 'hasRole',
        args: [proposer, f.deployment.addresses.governor],
      }),
      true,
    )
  })
})

describe('ProviderRegistry staking', () => {
  let f: Fixture
  let snap: Hex
  before(async () => {
    f = await setupChain()
    await delegateVotes(f.client(0), f.deployment)
    snap = await f.snapshot()
  })
  after(() => f.stop())
  beforeEach(async () => {
    await f.revert(snap)
    snap = await f.snapshot()
  })

  async function register(i: number, amount: bigint, validator: boolean) {
    const c = f.client(i)
    const { providers, token } = f.deployment.addresses
    const node = ed25519PeerId()
    const binding = node.sign(
      peerBindingMessage({
        peerId: node.peerId,
        wallet: c.account.address,
        chainId: f.deployment.chainId,
        registry: providers,
      }),
    )
    await send(c, { address: token, abi: ftnsTokenAbi, functionName: 'approve', args: [providers, amount] })
    const peerHex = `0x${Buffer.from(node.peerId).toString('hex')}` as Hex
    const bindingHex = `0x${Buffer.from(binding).toString('hex')}` as Hex
    await send(c, {
      address: providers,
      abi: providerRegistryAbi,
      functionName: 'register',
      args: [peerHex, bindingHex, amount, validator],
    })
    return { node, peerHex, address: c.account.address }
  }

  const registry = () => f.deployment.addresses.providers

  it('registers with a verifiable PeerId binding and exposes the validator set', async () => {
    const a = await register(1, 10_000n * FTNS, true) // validator stake
    await register(2, 100n * FTNS, true) // flagged, but below the validator stake
    await register(3, 500n * FTNS, false)
    const c = f.client(0)
    const [set, peerIds, stakes] = await c.readContract({
      address: registry(),
      abi: providerRegistryAbi,
      functionName: 'validators',
    })
    assert.deepEqual(set, [a.address])
    assert.equal(peerIds[0], a.peerHex)
    assert.equal(stakes[0], 10_000n * FTNS)
    const p = await c.readContract({
      address: registry(),
      abi: providerRegistryAbi,
      functionName: 'getProvider',
      args: [a.address],
    })
    const input = {
      peerId: a.node.peerId,
      wallet: a.address,
      chainId: f.deployment.chainId,
      registry: registry(),
    }
    assert.equal(verifyPeerBinding({ ...input, signature: Buffer.from(p.binding.slice(2), 'hex') }), true)
    // The same signature does not bind another wallet or another registry.
    const other = f.client(4).account.address
    assert.equal(
      verifyPeerBinding({ ...input, wallet: other, signature: Buffer.from(p.binding.slice(2), 'hex') }),
      false,
    )
    const owners = await c.readContract({
      address: registry(),
      abi: providerRegistryAbi,
      functionName: 'providersOfPeer',
      args: [a.peerHex],
    })
    assert.deepEqual(owners, [a.address])
  })

  it('enforces the minimum stake and the unbonding period', async () => {
    const c = f.client(1)
    const { providers, token } = f.deployment.addresses
    await send(c, {
      address: token,
      abi: ftnsTokenAbi,
      functionName: 'approve',
      args: [providers, 10n * FTNS],
    })
    await expectRevert(
      send(c, {
        address: providers,
        abi: providerRegistryAbi,
        functionName: 'register',
        args: ['0x01', '0x', 10n * FTNS, false],
      }),
      'BelowMinimumStake',
    )
    await register(1, 300n * FTNS, false)
    const unbond = (amount: bigint) =>
      send(c, { address: providers, abi: providerRegistryAbi, functionName: 'requestUnbond', args: [amount] })
    const withdraw = () => send(c, { address: providers, abi: providerRegistryAbi, functionName: 'withdraw' })
    await expectRevert(unbond(250n * FTNS), 'BelowMinimumStake') // would leave 50 < 100
    await unbond(100n * FTNS)
    await expectRevert(withdraw(), 'StillUnbonding')
    await f.increaseTime(61) // devnet unbonding period: 60 s
    const before = await balanceOf(f, c.account.address)
    await withdraw()
    assert.equal((await balanceOf(f, c.account.address)) - before, 100n * FTNS)
  })

  it('slashing: refused to anyone but governance, executed through a proposal with an evidence hash', async () => {
    const a = await register(1, 10_000n * FTNS, true)
    const evidence = keccak256(stringToHex('equivocation: two halt votes for one round'))
    for (const i of [0, 1, 2]) {
      await expectRevert(
        send(f.client(i), {
          address: registry(),
          abi: providerRegistryAbi,
          functionName: 'slash',
          args: [a.address, 1n, evidence],
        }),
        'NotGovernance',
      )
    }
    const treasury = f.deployment.addresses.timelock
    const before = await balanceOf(f, treasury)
    const proposal = {
      targets: [registry()],
      values: [0n],
      calldatas: [
        encodeFunctionData({
          abi: providerRegistryAbi,
          functionName: 'slash',
          args: [a.address, 9_950n * FTNS, evidence],
        }),
      ],
      description: 'Slash an equivocating validator',
    }
    await passProposalOnDevnet(f.client(0), f.deployment, proposal)
    assert.equal((await balanceOf(f, treasury)) - before, 9_950n * FTNS)
    const c = f.client(0)
    const p = await c.readContract({
      address: registry(),
      abi: providerRegistryAbi,
      functionName: 'getProvider',
      args: [a.address],
    })
    // 50 left is below the minimum: deregistered, the rest unbonds.
    assert.equal(p.registered, false)
    assert.equal(p.stake, 0n)
    assert.equal(p.unbonding, 50n * FTNS)
    const logs = await c.getContractEvents({
      address: registry(),
      abi: providerRegistryAbi,
      eventName: 'Slashed',
      fromBlock: 0n,
    })
    assert.equal(logs.length, 1)
    assert.equal(logs[0]?.args.evidenceHash, evidence)
    const [set] = await c.readContract({
      address: registry(),
      abi: providerRegistryAbi,
      functionName: 'validators',
    })
    assert.deepEqual(set, [])
  })
})
