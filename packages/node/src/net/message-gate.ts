import { EventEmitter } from 'node:events'
import type { PeerId } from '@libp2p/interface'
import {
  type Config,
  type ErrorCode,
  type MessageRegistry,
  type MessageType,
  type OpenedEnvelope,
  openEnvelope,
  PrsmError,
  ReplayGuard,
} from '@prsm/core'
import type { PeerPenalties } from './penalties.ts'

export interface MessageGateComponents {
  registry: MessageRegistry
  penalties: Pick<PeerPenalties, 'penalise'>
}

export interface Rejection {
  from: string
  code: ErrorCode
  message: string
  at: number
}

export interface MessageGateEvents {
  rejected: [Rejection]
}

/**
 * The single entry point for every signed message that arrives from a peer (gossip or stream).
 * It verifies the envelope against the node's limits and, on failure, penalises the peer the
 * bytes came from (the propagation source, not the claimed sender) and reports the rejection.
 */
export class MessageGate extends EventEmitter<MessageGateEvents> {
  readonly #components: MessageGateComponents
  readonly #limits: Config['messages']
  readonly #replay: ReplayGuard
  readonly #recent: Rejection[] = []
  #counts = { accepted: 0, rejected: 0 }

  constructor(components: MessageGateComponents, limits: Config['messages']) {
    super()
    this.#components = components
    this.#limits = limits
    // A nonce only needs remembering while its message could still pass the timestamp check.
    this.#replay = new ReplayGuard(2 * limits.maxClockSkewMs)
  }

  get maxBytes(): number {
    return this.#limits.maxBytes
  }

  /** Verifies `bytes` received from `from`; throws the rejection (a PrsmError) after penalising. */
  async receive<P>(bytes: Uint8Array, from: PeerId, expect?: MessageType<P>): Promise<OpenedEnvelope<P>> {
    try {
      const opened = await openEnvelope<P>(bytes, {
        registry: this.#components.registry,
        maxBytes: this.#limits.maxBytes,
        maxClockSkewMs: this.#limits.maxClockSkewMs,
        replay: this.#replay,
        ...(expect === undefined ? {} : { expect }),
      })
      this.#counts.accepted++
      return opened
    } catch (err) {
      throw this.reject(from, err)
    }
  }

  /**
   * Records a message from `from` as rejected (penalising the peer) and returns the error to
   * throw. Protocol handlers call it for failures found outside the envelope (e.g. a frame over
   * the size cap that never reached {@link receive}).
   */
  reject(from: PeerId, err: unknown): PrsmError {
    const error = toMessageError(err, this.#limits.maxBytes)
    this.#counts.rejected++
    const rejection = { from: from.toString(), code: error.code, message: error.message, at: Date.now() }
    this.#recent.push(rejection)
    if (this.#recent.length > 100) this.#recent.shift()
    this.#components.penalties.penalise(from, error.code)
    this.emit('rejected', rejection)
    return error
  }

  stats(): { accepted: number; rejected: number; recent: Rejection[] } {
    return { ...this.#counts, recent: [...this.#recent] }
  }
}

/** Maps stream-level failures to message codes: an over-long length prefix is an oversize message. */
function toMessageError(err: unknown, maxBytes: number): PrsmError {
  if (err instanceof PrsmError) return err
  const name = (err as { name?: string }).name
  if (name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError') {
    return new PrsmError('MESSAGE_OVERSIZE', `frame exceeds the cap of ${maxBytes} bytes`, { cause: err })
  }
  return new PrsmError('MESSAGE_MALFORMED', String((err as Error)?.message ?? err), { cause: err })
}
