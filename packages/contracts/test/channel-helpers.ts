import { randomBytes } from 'node:crypto'
import type { Address, Hex } from 'viem'
import { ftnsTokenAbi } from '../src/generated/FTNSToken.ts'
import { paymentChannelsAbi } from '../src/generated/PaymentChannels.ts'
import {
  normalizeRoyalties,
  type RoyaltyEntry,
  type SignedVoucher,
  signVoucher,
  toContractVoucher,
} from '../src/voucher.ts'
import { type Client, type Fixture, send } from './fixtures.ts'

export interface OpenedChannel {
  id: Hex
  payer: number
  payee: number
}

/** Approves and opens a channel from dev account `payer` to `payee`. */
export async function openChannel(
  f: Fixture,
  payer: number,
  payee: number,
  deposit: bigint,
  ttlSeconds = 3600n,
): Promise<OpenedChannel> {
  const c = f.client(payer)
  const { channels, token } = f.deployment.addresses
  await send(c, { address: token, abi: ftnsTokenAbi, functionName: 'approve', args: [channels, deposit] })
  const salt = `0x${randomBytes(32).toString('hex')}` as Hex
  const payeeAddress = f.client(payee).account.address
  const expiry = (await f.now()) + ttlSeconds
  await send(c, {
    address: channels,
    abi: paymentChannelsAbi,
    functionName: 'open',
    args: [payeeAddress, deposit, expiry, salt],
  })
  const id = await c.readContract({
    address: channels,
    abi: paymentChannelsAbi,
    functionName: 'channelId',
    args: [c.account.address, payeeAddress, salt],
  })
  return { id, payer, payee }
}

export function sign(
  f: Fixture,
  ch: OpenedChannel,
  cumulativeAmount: bigint,
  royalties: RoyaltyEntry[] = [],
  domain = f.domain,
): SignedVoucher {
  return signVoucher(
    { channel: ch.id, cumulativeAmount, royalties: normalizeRoyalties(royalties) },
    { domain, privateKey: f.privateKey(ch.payer) },
  )
}

export function claim(f: Fixture, ch: OpenedChannel, voucher: SignedVoucher, by: number = ch.payee) {
  return send(f.client(by), {
    address: f.deployment.addresses.channels,
    abi: paymentChannelsAbi,
    functionName: 'claim',
    args: [ch.id, toContractVoucher(voucher)],
  })
}

export function getChannel(c: Client, channels: Address, id: Hex) {
  return c.readContract({
    address: channels,
    abi: paymentChannelsAbi,
    functionName: 'getChannel',
    args: [id],
  })
}
