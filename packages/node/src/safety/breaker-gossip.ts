import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { PrivateKey } from '@libp2p/interface'
import { type MessageRegistry, type MessageType, sealEnvelope } from '@prsm/core'
import { z } from 'zod'
import type { PrsmLibp2p } from '../net/libp2p.ts'
import type { MessageGate } from '../net/message-gate.ts'
import type { BreakerChange, Breakers } from './breakers.ts'

/** Gossip topic of signed breaker events. */
export const BREAKER_TOPIC = '/prsm/safety/breakers/1'

export const BreakerEventSchema = z
  .object({
    key: z.string().regex(/^(?:provider|model):[\x21-\x7e]{1,200}$/),
    state: z.enum(['closed', 'open', 'half-open']),
    failureRate: z.number().min(0).max(1),
    violationRate: z.number().min(0).max(1),
    samples: z.number().int().min(0).max(1e9),
  })
  .strict()
export type BreakerEvent = z.output<typeof BreakerEventSchema>

export function registerBreakerMessages(registry: MessageRegistry): {
  BreakerEvent: MessageType<BreakerEvent>
} {
  return { BreakerEvent: registry.register('safety-breaker', 1, BreakerEventSchema) }
}

export interface BreakerGossipComponents {
  libp2p: Pick<PrsmLibp2p, 'services' | 'peerId'>
  privateKey: PrivateKey
  registry: MessageRegistry
  gate: Pick<MessageGate, 'receive'>
  breakers: Pick<Breakers, 'onChange' | 'applyRemote'>
  logger: { debug(obj: object, msg: string): void; info(obj: object, msg: string): void }
  /** Told about every accepted event from another node (audit, tests). */
  onRemote?: (origin: string, event: BreakerEvent) => void
}

/**
 * Publishes this node's breaker changes as signed envelopes and feeds other nodes' events to the
 * breakers as weighted opinions (see Breakers.applyRemote). Envelopes go through the message gate
 * (signature, size cap, schema, replay); the origin is the envelope's signer, not the relaying peer.
 */
export class BreakerGossip {
  readonly #c: BreakerGossipComponents
  readonly #messages: { BreakerEvent: MessageType<BreakerEvent> }
  #unsubscribe: (() => void) | undefined
  #started = false

  constructor(components: BreakerGossipComponents) {
    this.#c = components
    this.#messages = registerBreakerMessages(components.registry)
  }

  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    const pubsub = this.#c.libp2p.services.pubsub
    const self = this.#c.libp2p.peerId.toString()
    pubsub.topicValidators.set(BREAKER_TOPIC, async (from, msg) => {
      try {
        const { envelope } = await this.#c.gate.receive(msg.data, from, this.#messages.BreakerEvent)
        if (envelope.sender !== self) {
          this.#c.breakers.applyRemote(envelope.sender, envelope.payload.key, envelope.payload.state)
          this.#c.onRemote?.(envelope.sender, envelope.payload)
        }
        return TopicValidatorResult.Accept
      } catch {
        return TopicValidatorResult.Reject
      }
    })
    pubsub.subscribe(BREAKER_TOPIC)
    this.#unsubscribe = this.#c.breakers.onChange((change) => void this.publish(change))
  }

  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    this.#unsubscribe?.()
    const pubsub = this.#c.libp2p.services.pubsub
    pubsub.unsubscribe(BREAKER_TOPIC)
    pubsub.topicValidators.delete(BREAKER_TOPIC)
  }

  /** Signs and publishes one change (failures are logged: gossip is best effort). */
  async publish(change: BreakerChange): Promise<void> {
    if (!this.#started) return
    try {
      const bytes = await sealEnvelope(this.#c.privateKey, this.#messages.BreakerEvent, {
        key: change.key,
        state: change.to,
        failureRate: change.failureRate,
        violationRate: change.violationRate,
        samples: change.samples,
      })
      await this.#c.libp2p.services.pubsub.publish(BREAKER_TOPIC, bytes)
    } catch (err) {
      this.#c.logger.debug({ err: String(err), key: change.key }, 'breaker gossip publish failed')
    }
  }
}
