import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, beforeEach, describe, it } from 'node:test'
import {
  type Address,
  decodeErrorResult,
  encodeFunctionData,
  getAddress,
  type Hex,
  toFunctionSelector,
} from 'viem'
import { FTNS } from '../src/deploy.ts'
import { paymentChannelsAbi, paymentChannelsBytecode } from '../src/generated/PaymentChannels.ts'
import { PERMIT_TYPES } from '../src/permit.ts'
import {
  royaltyCommitment,
  signVoucher,
  toContractVoucher,
  voucherDigest,
  voucherDomain,
} from '../src/voucher.ts'
import { claim, getChannel, openChannel, sign } from './channel-helpers.ts'
import { balanceOf, expectRevert, type Fixture, send, setupChain } from './fixtures.ts'
import { hookTokenAbi, hookTokenBytecode } from './generated/HookToken.ts'
import { reentererAbi, reentererBytecode } from './generated/Reenterer.ts'

const randomAddress = (): Address => getAddress(`0x${randomBytes(20).toString('hex')}`)

describe('PaymentChannels', () => {
  let f: Fixture
  let snap: Hex
  before(async () => {
    f = await setupChain()
    snap = await f.snapshot()
  })
  after(() => f.stop())
  beforeEach(async () => {
    await f.revert(snap)
    snap = await f.snapshot()
  })
  const channelsAddress = () => f.deployment.addresses.channels
  const treasury = () => f.deployment.addresses.timelock

  it('computes the same digest and royalty commitment as the contract', async () => {
    const ch = await openChannel(f, 1, 2, 100n * FTNS)
    const table = [
      { creator: randomAddress(), amount: 3n },
      { creator: randomAddress(), amount: 5n },
    ].sort((a, b) => (BigInt(a.creator) < BigInt(b.creator) ? -1 : 1))
    const v = sign(f, ch, 50n, table)
    const root = await f.client(0).readContract({
      address: channelsAddress(),
      abi: paymentChannelsAbi,
      functionName: 'royaltyCommitment',
      args: [table.map((e) => e.creator), table.map((e) => e.amount)],
    })
    assert.equal(root, royaltyCommitment(table))
    const digest = await f.client(0).readContract({
      address: channelsAddress(),
      abi: paymentChannelsAbi,
      functionName: 'voucherDigest',
      args: [ch.id, 50n, root],
    })
    assert.equal(digest, `0x${Buffer.from(voucherDigest(f.domain, v)).toString('hex')}`)
  })

  it('pays royalties, the network fee and the payee from each claim delta; the channel stays open', async () => {
    const ch = await openChannel(f, 1, 2, 1_000n * FTNS)
    const [a, b] = [randomAddress(), randomAddress()]
    const payee = f.client(2).account.address
    const payee0 = await balanceOf(f, payee)
    const treasury0 = await balanceOf(f, treasury())

    await claim(f, ch, sign(f, ch, 100n * FTNS, [{ creator: a, amount: 10n * FTNS }]))
    // 2 % fee of 100 = 2; royalties 10; payee 88
    assert.equal(await balanceOf(f, a), 10n * FTNS)
    assert.equal((await balanceOf(f, treasury())) - treasury0, 2n * FTNS)
    assert.equal((await balanceOf(f, payee)) - payee0, 88n * FTNS)

    await claim(
      f,
      ch,
      sign(f, ch, 300n * FTNS, [
        { creator: a, amount: 30n * FTNS },
        { creator: b, amount: 5n * FTNS },
      ]),
    )
    // delta 200: fee 4, royalties 20 + 5, payee 171
    assert.equal(await balanceOf(f, a), 30n * FTNS)
    assert.equal(await balanceOf(f, b), 5n * FTNS)
    assert.equal((await balanceOf(f, treasury())) - treasury0, 6n * FTNS)
    assert.equal((await balanceOf(f, payee)) - payee0, 259n * FTNS)
    const state = await getChannel(f.client(0), channelsAddress(), ch.id)
    assert.equal(state.claimed, 300n * FTNS)
    assert.equal(state.closed, false)
  })

  it('rejects a replayed or lower voucher', async () => {
    const ch = await openChannel(f, 1, 2, 100n)
    const v10 = sign(f, ch, 10n)
    const v20 = sign(f, ch, 20n)
    await claim(f, ch, v20)
    await expectRevert(claim(f, ch, v20), 'NotIncreasing')
    await expectRevert(claim(f, ch, v10), 'NotIncreasing')
  })

  it('rejects a voucher above the deposit until the payer tops up', async () => {
    const ch = await openChannel(f, 1, 2, 100n)
    const v = sign(f, ch, 150n)
    await expectRevert(claim(f, ch, v), 'OverDeposit')
    await send(f.client(1), {
      address: f.deployment.addresses.token,
      abi: hookTokenAbi, // any ERC-20 ABI with approve
      functionName: 'approve',
      args: [channelsAddress(), 50n],
    })
    await send(f.client(1), {
      address: channelsAddress(),
      abi: paymentChannelsAbi,
      functionName: 'topUp',
      args: [ch.id, 50n],
    })
    await claim(f, ch, v)
  })

  it('rejects vouchers signed for another chain id, contract or domain name, or by someone else', async () => {
    const ch = await openChannel(f, 1, 2, 100n)
    const { chainId } = f.deployment
    await expectRevert(
      claim(f, ch, sign(f, ch, 10n, [], voucherDomain(chainId + 1, channelsAddress()))),
      'BadSignature',
    )
    await expectRevert(
      claim(f, ch, sign(f, ch, 10n, [], voucherDomain(chainId, randomAddress()))),
      'BadSignature',
    )
    const otherName = { ...f.domain, name: 'Other' } as unknown as typeof f.domain
    await expectRevert(claim(f, ch, sign(f, ch, 10n, [], otherName)), 'BadSignature')
    await expectRevert(claim(f, ch, sign(f, { ...ch, payer: 3 }, 10n)), 'BadSignature')
  })

  it('only the payee claims', async () => {
    const ch = await openChannel(f, 1, 2, 100n)
    await expectRevert(claim(f, ch, sign(f, ch, 10n), 3), 'NotPayee')
    await expectRevert(claim(f, ch, sign(f, ch, 10n), 1), 'NotPayee')
  })

  it('rejects a claim after expiry and a reclaim before it; reclaim refunds the unclaimed rest once', async () => {
    const ch = await openChannel(f, 1, 2, 100n, 600n)
    const payer = f.client(1).account.address
    await claim(f, ch, sign(f, ch, 30n))
    const late = sign(f, ch, 60n)
    const reclaim = (by = 1) =>
      send(f.client(by), {
        address: channelsAddress(),
        abi: paymentChannelsAbi,
        functionName: 'reclaim',
        args: [ch.id],
      })
    await expectRevert(reclaim(), 'NotExpired')
    await f.increaseTime(601)
    await expectRevert(claim(f, ch, late), 'Expired')
    await expectRevert(reclaim(2), 'NotPayer')
    const before = await balanceOf(f, payer)
    await reclaim()
    assert.equal((await balanceOf(f, payer)) - before, 70n)
    await expectRevert(reclaim(), 'ChannelIsClosed')
  })

  it('extends and tops up only by the payer and only before expiry', async () => {
    const ch = await openChannel(f, 1, 2, 100n, 600n)
    const state = await getChannel(f.client(0), channelsAddress(), ch.id)
    const extend = (by: number, expiry: bigint) =>
      send(f.client(by), {
        address: channelsAddress(),
        abi: paymentChannelsAbi,
        functionName: 'extend',
        args: [ch.id, expiry],
      })
    await expectRevert(extend(2, state.expiry + 100n), 'NotPayer')
    await expectRevert(extend(1, state.expiry), 'ExpiryNotLater')
    await extend(1, state.expiry + 100n)
    await f.increaseTime(701)
    await expectRevert(extend(1, state.expiry + 1000n), 'Expired')
  })

  it('rejects a royalty table over the cap', async () => {
    const ch = await openChannel(f, 1, 2, 1_000n)
    // default cap 20 %: 201 of 1000 is over
    await expectRevert(
      claim(f, ch, sign(f, ch, 1_000n, [{ creator: randomAddress(), amount: 201n }])),
      'RoyaltyOverCap',
    )
    await claim(f, ch, sign(f, ch, 1_000n, [{ creator: randomAddress(), amount: 200n }]))
  })

  it('a payee cannot claim while skipping or altering the signed royalties', async () => {
    const ch = await openChannel(f, 1, 2, 1_000n)
    const [a, b] = [randomAddress(), randomAddress()].sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1)) as [
      Address,
      Address,
    ]
    const v = sign(f, ch, 500n, [
      { creator: a, amount: 40n },
      { creator: b, amount: 60n },
    ])
    const tampered = (creators: Address[], royalties: bigint[]) =>
      send(f.client(2), {
        address: channelsAddress(),
        abi: paymentChannelsAbi,
        functionName: 'claim',
        args: [ch.id, { ...toContractVoucher(v), creators, royalties }],
      })
    await expectRevert(tampered([], []), 'BadSignature')
    await expectRevert(tampered([a], [40n]), 'BadSignature')
    await expectRevert(tampered([a, b], [0n, 0n]), 'BadSignature')
    await expectRevert(tampered([b, a], [60n, 40n]), 'BadSignature')
    await expectRevert(tampered([a, a], [40n, 60n]), 'BadSignature')
    await claim(f, ch, v)
    assert.equal(await balanceOf(f, a), 40n)
    assert.equal(await balanceOf(f, b), 60n)
  })

  it('rejects a non-canonical table, a creator going down, and royalties above the payment', async () => {
    const ch = await openChannel(f, 1, 2, 10_000n)
    const [a, b] = [randomAddress(), randomAddress()].sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1)) as [
      Address,
      Address,
    ]
    // Signed by the payer, but creators descending or duplicated: not the canonical table.
    const key = f.privateKey(1)
    for (const royalties of [
      [
        { creator: b, amount: 1n },
        { creator: a, amount: 1n },
      ],
      [
        { creator: a, amount: 1n },
        { creator: a, amount: 1n },
      ],
    ]) {
      const v = signVoucher(
        { channel: ch.id, cumulativeAmount: 100n, royalties },
        { domain: f.domain, privateKey: key },
      )
      await expectRevert(claim(f, ch, v), 'RoyaltyTableInvalid')
    }
    await claim(f, ch, sign(f, ch, 1_000n, [{ creator: a, amount: 100n }]))
    await expectRevert(claim(f, ch, sign(f, ch, 2_000n, [{ creator: a, amount: 50n }])), 'RoyaltyDecreased')
    // +1 of payment cannot carry +200 of royalty (even within the overall cap).
    await expectRevert(
      claim(f, ch, sign(f, ch, 1_001n, [{ creator: a, amount: 200n }])),
      'RoyaltyOverPayment',
    )
  })

  it('lets the payee close early with a final voucher, refunding the rest', async () => {
    const ch = await openChannel(f, 1, 2, 1_000n)
    const payer = f.client(1).account.address
    const before = await balanceOf(f, payer)
    await send(f.client(2), {
      address: channelsAddress(),
      abi: paymentChannelsAbi,
      functionName: 'close',
      args: [ch.id, toContractVoucher(sign(f, ch, 400n))],
    })
    assert.equal((await balanceOf(f, payer)) - before, 600n)
    await expectRevert(claim(f, ch, sign(f, ch, 500n)), 'ChannelIsClosed')
  })

  it('opens with an EIP-2612 permit instead of an approval', async () => {
    const payer = f.client(1)
    const { token, channels } = f.deployment.addresses
    const deadline = (await f.now()) + 3600n
    const nonce = await payer.readContract({
      address: token,
      abi: (await import('../src/generated/FTNSToken.ts')).ftnsTokenAbi,
      functionName: 'nonces',
      args: [payer.account.address],
    })
    const sig = await payer.signTypedData({
      domain: { name: 'PRSM FTNS', version: '1', chainId: f.deployment.chainId, verifyingContract: token },
      types: PERMIT_TYPES,
      primaryType: 'Permit',
      message: { owner: payer.account.address, spender: channels, value: 500n, nonce, deadline },
    })
    const r = `0x${sig.slice(2, 66)}` as Hex
    const s = `0x${sig.slice(66, 130)}` as Hex
    const v = Number.parseInt(sig.slice(130, 132), 16)
    const salt = `0x${'11'.repeat(32)}` as Hex
    await send(payer, {
      address: channels,
      abi: paymentChannelsAbi,
      functionName: 'openWithPermit',
      args: [f.client(2).account.address, 500n, deadline, salt, deadline, v, r, s],
    })
    const id = await payer.readContract({
      address: channels,
      abi: paymentChannelsAbi,
      functionName: 'channelId',
      args: [payer.account.address, f.client(2).account.address, salt],
    })
    assert.equal((await getChannel(payer, channels, id)).deposit, 500n)
  })
})

describe('PaymentChannels reentrancy through a malicious token receiver', () => {
  let f: Fixture
  let hook: Address
  let channels: Address
  let attacker: Address
  before(async () => {
    f = await setupChain()
    const deployer = f.client(0)
    const deploy = async (abi: never, bytecode: Hex, args: unknown[] = []) => {
      const hash = await deployer.deployContract({ abi, bytecode, args } as never)
      const receipt = await deployer.waitForTransactionReceipt({ hash })
      return receipt.contractAddress as Address
    }
    hook = await deploy(hookTokenAbi as never, hookTokenBytecode)
    channels = await deploy(paymentChannelsAbi as never, paymentChannelsBytecode, [
      hook,
      f.deployment.addresses.parameters,
      f.deployment.addresses.timelock,
    ])
    attacker = await deploy(reentererAbi as never, reentererBytecode)
    await send(deployer, {
      address: hook,
      abi: hookTokenAbi,
      functionName: 'setHooked',
      args: [attacker, true],
    })
  })
  after(() => f.stop())

  const reentrancySelector = toFunctionSelector('ReentrancyGuardReentrantCall()')

  async function openTo(payee: Address, payerIndex: number, deposit: bigint, ttl = 3600n): Promise<Hex> {
    const payer = f.client(payerIndex)
    await send(payer, {
      address: hook,
      abi: hookTokenAbi,
      functionName: 'mint',
      args: [payer.account.address, deposit],
    })
    await send(payer, {
      address: hook,
      abi: hookTokenAbi,
      functionName: 'approve',
      args: [channels, deposit],
    })
    const salt = `0x${randomBytes(32).toString('hex')}` as Hex
    await send(payer, {
      address: channels,
      abi: paymentChannelsAbi,
      functionName: 'open',
      args: [payee, deposit, (await f.now()) + ttl, salt],
    })
    return payer.readContract({
      address: channels,
      abi: paymentChannelsAbi,
      functionName: 'channelId',
      args: [payer.account.address, payee, salt],
    })
  }

  it('a payee contract re-entering claim from the token callback is stopped', async () => {
    const id = await openTo(attacker, 1, 1_000n)
    const domain = voucherDomain(f.deployment.chainId, channels)
    const voucher = sign(f, { id, payer: 1, payee: 0 }, 500n, [], domain)
    const claimData = encodeFunctionData({
      abi: paymentChannelsAbi,
      functionName: 'claim',
      args: [id, toContractVoucher(voucher)],
    })
    const bigger = sign(f, { id, payer: 1, payee: 0 }, 900n, [], domain)
    const attack = encodeFunctionData({
      abi: paymentChannelsAbi,
      functionName: 'claim',
      args: [id, toContractVoucher(bigger)],
    })
    const c = f.client(0)
    await send(c, {
      address: attacker,
      abi: reentererAbi,
      functionName: 'setAttack',
      args: [channels, attack],
    })
    await send(c, { address: attacker, abi: reentererAbi, functionName: 'exec', args: [channels, claimData] })

    assert.equal(await c.readContract({ address: attacker, abi: reentererAbi, functionName: 'attempts' }), 1n)
    assert.equal(
      await c.readContract({ address: attacker, abi: reentererAbi, functionName: 'lastOk' }),
      false,
    )
    const error = await c.readContract({ address: attacker, abi: reentererAbi, functionName: 'lastError' })
    assert.equal(error.slice(0, 10), reentrancySelector)
    assert.equal(
      decodeErrorResult({ abi: paymentChannelsAbi, data: error }).errorName,
      'ReentrancyGuardReentrantCall',
    )
    const state = await getChannel(c, channels, id)
    assert.equal(state.claimed, 500n)
    // 2 % fee of 500 went to the treasury, 490 to the attacker, nothing more.
    const attackerBalance = await c.readContract({
      address: hook,
      abi: hookTokenAbi,
      functionName: 'balanceOf',
      args: [attacker],
    })
    assert.equal(attackerBalance, 490n)
  })

  it('a payer contract re-entering reclaim from the refund callback is stopped', async () => {
    const c = f.client(0)
    // The attacker is the payer: fund it, open through exec.
    await send(c, { address: hook, abi: hookTokenAbi, functionName: 'mint', args: [attacker, 1_000n] })
    const approve = encodeFunctionData({
      abi: hookTokenAbi,
      functionName: 'approve',
      args: [channels, 1_000n],
    })
    await send(c, { address: attacker, abi: reentererAbi, functionName: 'exec', args: [hook, approve] })
    const salt = `0x${'22'.repeat(32)}` as Hex
    const payee = f.client(2).account.address
    const open = encodeFunctionData({
      abi: paymentChannelsAbi,
      functionName: 'open',
      args: [payee, 1_000n, (await f.now()) + 100n, salt],
    })
    await send(c, { address: attacker, abi: reentererAbi, functionName: 'exec', args: [channels, open] })
    const id = await c.readContract({
      address: channels,
      abi: paymentChannelsAbi,
      functionName: 'channelId',
      args: [attacker, payee, salt],
    })
    const reclaim = encodeFunctionData({ abi: paymentChannelsAbi, functionName: 'reclaim', args: [id] })
    await send(c, {
      address: attacker,
      abi: reentererAbi,
      functionName: 'setAttack',
      args: [channels, reclaim],
    })
    await f.increaseTime(101)
    const before = await c.readContract({
      address: hook,
      abi: hookTokenAbi,
      functionName: 'balanceOf',
      args: [attacker],
    })
    await send(c, { address: attacker, abi: reentererAbi, functionName: 'exec', args: [channels, reclaim] })
    assert.equal(
      await c.readContract({ address: attacker, abi: reentererAbi, functionName: 'lastOk' }),
      false,
    )
    const error = await c.readContract({ address: attacker, abi: reentererAbi, functionName: 'lastError' })
    assert.equal(error.slice(0, 10), reentrancySelector)
    const afterBalance = await c.readContract({
      address: hook,
      abi: hookTokenAbi,
      functionName: 'balanceOf',
      args: [attacker],
    })
    assert.equal(afterBalance - before, 1_000n, 'refunded exactly once')
  })
})
