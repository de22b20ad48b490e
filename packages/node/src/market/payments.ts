import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromMultihash, peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import type { RoyaltyEntry } from '@prsm/contracts'
import { voucherToJson } from '@prsm/contracts'
import { isErrorCode, type MessageRegistry, type MessageType, PrsmError, sealEnvelope } from '@prsm/core'
import * as Digest from 'multiformats/hashes/digest'
import type { Logger } from 'pino'
import { type Address, getAddress, type Hex, hexToBytes, isAddress } from 'viem'
import { z } from 'zod'
import { isLedgerError } from '../ledger/errors.ts'
import type { Ledger } from '../ledger/ledger.ts'
import type { PayerChannelRecord } from '../ledger/voucher-journal.ts'
import type { PrsmLibp2p } from '../net/libp2p.ts'
import type { MessageGate } from '../net/message-gate.ts'

type Stream = Parameters<Parameters<PrsmLibp2p['handle']>[1]>[0]

/** Request/response protocol on which a payer delivers a signed voucher to the payee. */
export const PAY_PROTOCOL = '/prsm/pay/1.0.0'
/** Request/response protocol on which a payer asks a peer for its payee wallet on a chain. */
export const PAY_INFO_PROTOCOL = '/prsm/pay/info/1.0.0'
/** Time allowed for one delivery or info request (dial, write, answer). */
export const DEFAULT_PAY_TIMEOUT_MS = 15_000

const addressSchema = z.string().regex(/^0x[0-9a-fA-F]{40}$/)
const weiSchema = z.string().regex(/^\d{1,78}$/)
const refusal = z
  .object({ ok: z.literal(false), code: z.string().max(64), message: z.string().max(512) })
  .strict()

/** A voucher as it travels (`voucherToJson`); the payee's ledger checks everything else. */
export const VoucherJsonSchema = z
  .object({
    channel: z.string().regex(/^0x[0-9a-fA-F]{64}$/),
    cumulativeAmount: weiSchema,
    royalties: z.array(z.object({ creator: addressSchema, amount: weiSchema }).strict()).max(64),
    signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/),
  })
  .strict()

export function registerPaymentMessages(registry: MessageRegistry) {
  return {
    PayVoucher: registry.register('pay-voucher', 1, z.object({ voucher: VoucherJsonSchema }).strict()),
    PayReceipt: registry.register(
      'pay-receipt',
      1,
      z.discriminatedUnion('ok', [
        z
          .object({
            ok: z.literal(true),
            channel: z.string().regex(/^0x[0-9a-fA-F]{64}$/),
            cumulativeAmount: weiSchema,
            increment: weiSchema,
            payee: addressSchema,
          })
          .strict(),
        refusal,
      ]),
    ),
    PayInfoQuery: registry.register(
      'pay-info-query',
      1,
      z.object({ chainId: z.number().int().positive(), channels: addressSchema }).strict(),
    ),
    PayInfo: registry.register(
      'pay-info',
      1,
      z.discriminatedUnion('ok', [
        z
          .object({
            ok: z.literal(true),
            address: addressSchema,
            chainId: z.number().int().positive(),
            channels: addressSchema,
          })
          .strict(),
        refusal,
      ]),
    ),
  }
}
type PaymentMessages = ReturnType<typeof registerPaymentMessages>

export interface PaymentServiceComponents {
  libp2p: Pick<PrsmLibp2p, 'peerId' | 'dialProtocol' | 'handle' | 'unhandle'>
  privateKey: PrivateKey
  registry: MessageRegistry
  gate: Pick<MessageGate, 'receive' | 'reject' | 'maxBytes'>
  ledger: Pick<Ledger, 'enabled' | 'chain' | 'wallet' | 'payer' | 'payee'>
  logger: Logger
}

export interface PaymentServiceInit {
  /** JSON file remembering the payee PeerId of each channel this node opened (default: memory only). */
  peersFile?: string
  timeoutMs?: number
}

export interface OpenChannelRequest {
  /** The payee: a PeerId (`12D3KooW…`) or a wallet address (`0x…`). */
  to: string
  deposit: bigint
  expirySeconds?: number
  signal?: AbortSignal
}

/** The payee's signed acknowledgement of one voucher. */
export interface PaymentReceipt {
  channel: Hex
  peer: string
  payee: Address
  cumulativeAmount: bigint
  /** What the payee credited for this voucher. */
  increment: bigint
}

/**
 * Payments between nodes. The payer side opens channels to a peer (resolving its wallet through
 * the provider registry, or asking the peer over {@link PAY_INFO_PROTOCOL}), signs the next
 * voucher and delivers it over {@link PAY_PROTOCOL}; the payee side runs every delivered voucher
 * through the ledger's acceptance rules and answers with a signed receipt or a wire error code.
 * Both directions are signed envelopes verified by the message gate.
 */
export class PaymentService {
  readonly #c: PaymentServiceComponents
  readonly #init: PaymentServiceInit
  readonly #messages: PaymentMessages
  readonly #peers = new Map<string, string>()
  /** Payments on one channel are signed and delivered one at a time, so vouchers arrive in order. */
  readonly #queues = new Map<string, Promise<unknown>>()
  #started = false

  constructor(components: PaymentServiceComponents, init: PaymentServiceInit = {}) {
    this.#c = components
    this.#init = init
    this.#messages = registerPaymentMessages(components.registry)
    if (init.peersFile !== undefined && existsSync(init.peersFile)) {
      try {
        const saved = JSON.parse(readFileSync(init.peersFile, 'utf8')) as Record<string, unknown>
        for (const [channel, peer] of Object.entries(saved)) {
          if (typeof peer === 'string') this.#peers.set(channel.toLowerCase(), peer)
        }
      } catch (err) {
        // Only a convenience: payees of registered providers are found again through the registry.
        components.logger.warn(
          { err: (err as Error).message, file: init.peersFile },
          'channel peers file ignored',
        )
      }
    }
  }

  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    const { libp2p } = this.#c
    await libp2p.handle(
      PAY_PROTOCOL,
      (stream, connection) => this.#serveVoucher(stream, connection.remotePeer),
      {
        maxInboundStreams: 64,
      },
    )
    await libp2p.handle(
      PAY_INFO_PROTOCOL,
      (stream, connection) => this.#serveInfo(stream, connection.remotePeer),
      {
        maxInboundStreams: 16,
      },
    )
  }

  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    await this.#c.libp2p.unhandle(PAY_PROTOCOL)
    await this.#c.libp2p.unhandle(PAY_INFO_PROTOCOL)
  }

  /** The payee PeerId this node delivers vouchers to on `channel`, when known. */
  peerOf(channel: Hex): string | undefined {
    return this.#peers.get(channel.toLowerCase())
  }

  /**
   * Opens a channel to a peer or an address. A PeerId is resolved through the provider registry
   * (a registered provider with a valid binding) and, failing that, by asking the peer itself.
   */
  async openChannel(
    request: OpenChannelRequest,
  ): Promise<PayerChannelRecord & { peer?: string; tx: { hash: Hex; gasUsed: bigint } }> {
    const { ledger } = this.#c
    const signal = request.signal
    let payee: Address
    let peer: string | undefined
    if (isAddress(request.to, { strict: false })) {
      payee = getAddress(request.to)
      peer = await this.#peerOfAddress(payee, signal)
    } else {
      peer = parsePeer(request.to).toString()
      try {
        payee = await ledger.wallet.resolvePayee(peer, signal ? { signal } : {})
      } catch (err) {
        if (!isLedgerError(err, 'PAYEE_UNRESOLVED')) throw err
        payee = await this.payeeInfo(peer, signal ? { signal } : {})
      }
    }
    const opened = await ledger.payer.openChannel({
      payee,
      deposit: request.deposit,
      ...(request.expirySeconds === undefined ? {} : { expirySeconds: request.expirySeconds }),
      ...(signal ? { signal } : {}),
    })
    if (peer !== undefined) this.#remember(opened.channel, peer)
    return peer === undefined ? opened : { ...opened, peer }
  }

  /** Asks `peer` for its payee wallet on this node's chain (a signed answer from that peer). */
  async payeeInfo(peer: PeerId | string, options: { signal?: AbortSignal } = {}): Promise<Address> {
    const { deployment } = this.#c.ledger.chain
    const peerId = typeof peer === 'string' ? parsePeer(peer) : peer
    const answer = await this.#request(
      peerId,
      PAY_INFO_PROTOCOL,
      this.#messages.PayInfoQuery,
      { chainId: deployment.chainId, channels: deployment.addresses.channels },
      this.#messages.PayInfo,
      options.signal,
    ).catch((err: unknown) => {
      throw new PrsmError(
        'PAYEE_UNRESOLVED',
        `peer ${peerId} is not a registered provider and did not answer: ${(err as Error).message}`,
        {
          cause: err,
          details: { peer: peerId.toString() },
        },
      )
    })
    if (!answer.ok) {
      throw new PrsmError(
        'PAYEE_UNRESOLVED',
        `peer ${peerId} cannot be paid here: ${answer.code}: ${answer.message}`,
        {
          details: { peer: peerId.toString(), peerCode: answer.code },
        },
      )
    }
    if (
      answer.chainId !== deployment.chainId ||
      answer.channels.toLowerCase() !== deployment.addresses.channels.toLowerCase()
    ) {
      throw new PrsmError('PAYEE_UNRESOLVED', `peer ${peerId} uses another chain or deployment`, {
        details: { peer: peerId.toString(), chainId: answer.chainId, channels: answer.channels },
      })
    }
    return getAddress(answer.address)
  }

  /**
   * Pays `amount` (wei) on a channel this node opened: signs the next voucher (journalled before
   * it leaves) and delivers it to the payee's node, resolving with the payee's signed receipt.
   * A voucher that is not delivered is superseded by the next one (amounts are cumulative).
   */
  pay(
    channel: Hex,
    amount: bigint,
    royalties: readonly RoyaltyEntry[] = [],
    options: { signal?: AbortSignal; peer?: string } = {},
  ): Promise<PaymentReceipt> {
    const id = channel.toLowerCase() as Hex
    const previous = this.#queues.get(id) ?? Promise.resolve()
    const next = previous.then(
      () => this.#pay(id, amount, royalties, options),
      () => this.#pay(id, amount, royalties, options),
    )
    const tail = next.catch(() => undefined)
    this.#queues.set(id, tail)
    void tail.then(() => {
      if (this.#queues.get(id) === tail) this.#queues.delete(id)
    })
    return next
  }

  async #pay(
    id: Hex,
    amount: bigint,
    royalties: readonly RoyaltyEntry[],
    options: { signal?: AbortSignal; peer?: string },
  ): Promise<PaymentReceipt> {
    const { ledger } = this.#c
    options.signal?.throwIfAborted()
    const record = ledger.payer.channels().find((c) => c.channel.toLowerCase() === id)
    if (!record) throw new PrsmError('CHANNEL_NOT_OURS', undefined, { details: { channel: id } })
    const peer = options.peer ?? this.peerOf(id) ?? (await this.#peerOfAddress(record.payee, options.signal))
    if (peer === undefined) {
      throw new PrsmError('PAYEE_UNRESOLVED', 'no node is known for the payee of this channel', {
        details: { channel: id, payee: record.payee },
      })
    }
    const voucher = ledger.payer.pay(record.channel, amount, royalties)
    const peerId = parsePeer(peer)
    const details = {
      channel: id,
      peer,
      cumulativeAmount: voucher.cumulativeAmount.toString(),
      delivered: false,
    }
    let answer: Awaited<ReturnType<PaymentService['deliver']>>
    try {
      answer = await this.deliver(peerId, voucherToJson(voucher), options.signal)
    } catch (err) {
      throw new PrsmError('PEER_UNREACHABLE', `voucher not delivered to ${peer}: ${(err as Error).message}`, {
        cause: err,
        details,
      })
    }
    if (!answer.ok) {
      const refused = wireError(answer, peerId)
      throw new PrsmError(refused.code, refused.message, { details: { ...refused.details, ...details } })
    }
    // The node that accepted a voucher on this channel is where the next one goes.
    if (this.peerOf(id) !== peerId.toString()) this.#remember(id, peerId.toString())
    return {
      channel: id,
      peer: peerId.toString(),
      payee: getAddress(answer.payee),
      cumulativeAmount: BigInt(answer.cumulativeAmount),
      increment: BigInt(answer.increment),
    }
  }

  /** Delivers one voucher (JSON form) to `peer` and returns its signed answer. */
  deliver(peer: PeerId, voucher: z.input<typeof VoucherJsonSchema>, signal?: AbortSignal) {
    return this.#request(
      peer,
      PAY_PROTOCOL,
      this.#messages.PayVoucher,
      { voucher },
      this.#messages.PayReceipt,
      signal,
    )
  }

  async #request<Q, A>(
    peer: PeerId,
    protocol: string,
    kind: MessageType<Q>,
    payload: Q,
    expect: MessageType<A>,
    outer?: AbortSignal,
  ): Promise<A> {
    const signal = AbortSignal.any([
      AbortSignal.timeout(this.#init.timeoutMs ?? DEFAULT_PAY_TIMEOUT_MS),
      ...(outer ? [outer] : []),
    ])
    const stream = await this.#c.libp2p.dialProtocol(peer, protocol, { signal })
    try {
      const lp = lpStream(stream, { maxDataLength: this.#c.gate.maxBytes })
      await lp.write(await sealEnvelope(this.#c.privateKey, kind, payload), { signal })
      const reply = await lp.read({ signal })
      const { envelope } = await this.#c.gate.receive(reply.subarray(), peer, expect)
      if (envelope.sender !== peer.toString()) {
        throw new PrsmError('MESSAGE_BAD_SIGNATURE', 'answer not signed by the peer that served it')
      }
      await stream.close({ signal }).catch(() => undefined)
      return envelope.payload
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  async #serveVoucher(stream: Stream, from: PeerId): Promise<void> {
    await this.#serve(stream, from, this.#messages.PayVoucher, this.#messages.PayReceipt, async (payload) => {
      const accepted = await this.#c.ledger.payee.acceptVoucher(payload.voucher)
      this.#c.logger.debug(
        { channel: accepted.channel, from: from.toString(), increment: accepted.increment.toString() },
        'voucher accepted',
      )
      return {
        ok: true as const,
        channel: accepted.channel,
        cumulativeAmount: accepted.cumulativeAmount.toString(),
        increment: accepted.increment.toString(),
        payee: this.#c.ledger.chain.address,
      }
    })
  }

  async #serveInfo(stream: Stream, from: PeerId): Promise<void> {
    await this.#serve(stream, from, this.#messages.PayInfoQuery, this.#messages.PayInfo, async (query) => {
      const { deployment, address } = this.#c.ledger.chain
      if (
        query.chainId !== deployment.chainId ||
        query.channels.toLowerCase() !== deployment.addresses.channels.toLowerCase()
      ) {
        throw new PrsmError('CHAIN_NOT_CONFIGURED', 'this node uses another chain or deployment', {
          details: { chainId: deployment.chainId },
        })
      }
      return {
        ok: true as const,
        address,
        chainId: deployment.chainId,
        channels: deployment.addresses.channels,
      }
    })
  }

  /**
   * Reads one request through the gate, answers with `handle`'s result or, when it throws, with a
   * signed refusal carrying the error code. Envelope failures penalise the peer and get no answer.
   */
  async #serve<Q, A>(
    stream: Stream,
    from: PeerId,
    expect: MessageType<Q>,
    answer: MessageType<A>,
    handle: (payload: Q) => Promise<A>,
  ): Promise<void> {
    const signal = AbortSignal.timeout(this.#init.timeoutMs ?? DEFAULT_PAY_TIMEOUT_MS)
    try {
      const lp = lpStream(stream, { maxDataLength: this.#c.gate.maxBytes })
      const request = await lp.read({ signal }).catch((err: unknown) => {
        throw this.#c.gate.reject(from, err)
      })
      const { envelope } = await this.#c.gate.receive(request.subarray(), from, expect)
      let result: A
      try {
        result = await handle(envelope.payload)
      } catch (err) {
        const error =
          err instanceof PrsmError ? err : new PrsmError('INTERNAL', 'payment request failed', { cause: err })
        if (error.code === 'INTERNAL')
          this.#c.logger.warn({ err, peer: from.toString() }, 'payment request failed')
        result = { ok: false, code: error.code, message: error.message.slice(0, 512) } as A
      }
      await lp.write(await sealEnvelope(this.#c.privateKey, answer, result), { signal })
      await stream.close({ signal })
    } catch (err) {
      this.#c.logger.debug({ err: (err as Error).message, peer: from.toString() }, 'payment request refused')
      stream.abort(err as Error)
    }
  }

  /** The node of a registered provider with a valid PeerId binding to `address`, if any. */
  async #peerOfAddress(address: Address, signal?: AbortSignal): Promise<string | undefined> {
    const { wallet } = this.#c.ledger
    const status = await wallet.stakeStatus({ of: address, ...(signal ? { signal } : {}) })
    if (!status.registered || status.peerId === '0x') return undefined
    try {
      const peer = peerIdFromMultihash(Digest.decode(hexToBytes(status.peerId))).toString()
      const bound = await wallet.resolvePayee(peer, signal ? { signal } : {})
      return bound.toLowerCase() === address.toLowerCase() ? peer : undefined
    } catch {
      return undefined
    }
  }

  #remember(channel: Hex, peer: string): void {
    this.#peers.set(channel.toLowerCase(), peer)
    const file = this.#init.peersFile
    if (file === undefined) return
    const tmp = `${file}.${process.pid}.tmp`
    writeFileSync(tmp, `${JSON.stringify(Object.fromEntries(this.#peers), null, 2)}\n`, { mode: 0o600 })
    renameSync(tmp, file)
  }
}

function parsePeer(text: string): PeerId {
  try {
    return peerIdFromString(text)
  } catch (cause) {
    throw new PrsmError('VALIDATION_FAILED', `not a PeerId or a 0x address: ${text}`, { cause })
  }
}

/** A refusal on the wire → a PrsmError with the peer's code (unknown codes become INTERNAL). */
function wireError(answer: { code: string; message: string }, peer: PeerId): PrsmError {
  const details = { peer: peer.toString(), refusedBy: 'payee' }
  const message = `the payee's node refused the voucher: ${answer.message}`
  if (isErrorCode(answer.code)) return new PrsmError(answer.code, message, { details })
  return new PrsmError('INTERNAL', message, { details: { ...details, originalCode: answer.code } })
}
