import { createHash } from 'node:crypto'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { type Config, type MessageRegistry, PrsmError } from '@prsm/core'
import type { Logger } from 'pino'
import type { Ledger } from '../ledger/ledger.ts'
import type { OfferService } from '../market/offers.ts'
import type { PaymentService } from '../market/payments.ts'
import type { PrsmLibp2p } from '../net/libp2p.ts'
import type { MessageGate } from '../net/message-gate.ts'
import type { ContentStorage } from '../storage/storage.ts'
import type { Backend, SafetyHook } from './backend.ts'
import { backendsFromConfig } from './backends/index.ts'
import {
  type JobClient as Client,
  collectJob,
  JobClient,
  type JobEvent,
  type RunJobRequest,
} from './job-client.ts'
import { JobProvider } from './job-provider.ts'
import { createJobStore, type JobStore } from './job-store.ts'
import { JOB_PROTOCOL, registerJobMessages } from './messages.ts'
import { computeJsBackend } from './sandbox/compute-js.ts'

export interface JobServiceComponents {
  libp2p: Pick<PrsmLibp2p, 'peerId' | 'dialProtocol' | 'handle' | 'unhandle'>
  privateKey: PrivateKey
  registry: MessageRegistry
  gate: Pick<MessageGate, 'receive' | 'reject' | 'maxBytes'>
  offers: Pick<OfferService, 'localOffers'>
  ledger: Pick<Ledger, 'enabled' | 'payer' | 'payee'>
  payments: Pick<PaymentService, 'peerOf'>
  storage?: Pick<ContentStorage, 'cat' | 'add'>
  logger: Logger
}

export interface JobServiceInit {
  jobs: Config['jobs']
  /** The provider's job journal (SQLite); ':memory:' for tests. */
  storePath: string
  safety?: SafetyHook
  /** Inbound job streams served at once (running, queued and being refused). Default 128. */
  maxInboundStreams?: number
}

/**
 * Jobs between peers on {@link JOB_PROTOCOL}: the provider side (serving this node's offers
 * with registered backends) and the client side (`run`), sharing one set of message types.
 */
export class JobService {
  readonly #c: JobServiceComponents
  readonly #init: JobServiceInit
  readonly #store: JobStore
  readonly provider: JobProvider
  readonly #client: Client
  #started = false

  constructor(components: JobServiceComponents, init: JobServiceInit) {
    this.#c = components
    this.#init = init
    const messages = registerJobMessages(components.registry)
    this.#store = createJobStore({ path: init.storePath })
    this.provider = new JobProvider(
      {
        privateKey: components.privateKey,
        messages,
        gate: components.gate,
        offers: components.offers,
        ledger: components.ledger,
        ...(components.storage === undefined ? {} : { storage: components.storage }),
        store: this.#store,
        logger: components.logger,
      },
      { ...init.jobs, ...(init.safety === undefined ? {} : { safety: init.safety }) },
    )
    this.#client = new JobClient(
      {
        libp2p: components.libp2p,
        privateKey: components.privateKey,
        messages,
        gate: components.gate,
        ledger: components.ledger,
        payments: components.payments,
        logger: components.logger,
      },
      { defaultDeadlineMs: init.jobs.defaultDeadlineMs },
    )
    // Served only when the node also offers compute:js (its offer sets the price).
    if (components.storage !== undefined) {
      this.registerBackend('compute:js', computeJsBackend({ storage: components.storage }, init.jobs.compute))
    }
    for (const backend of init.jobs.backends) {
      for (const { capability, backend: b } of backendsFromConfig(backend))
        this.registerBackend(capability, b)
    }
  }

  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    await this.#c.libp2p.handle(
      JOB_PROTOCOL,
      (stream, connection) => this.provider.serve(stream, connection.remotePeer),
      { maxInboundStreams: this.#init.maxInboundStreams ?? 128 },
    )
  }

  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    await this.#c.libp2p.unhandle(JOB_PROTOCOL)
    this.provider.abortAll()
    this.#store.close()
  }

  /** Serves `capability` (one of this node's offers) with `backend`. */
  registerBackend(capability: string, backend: Backend): void {
    this.provider.registerBackend(capability, backend)
  }

  /**
   * Provider side: stops the running and queued jobs that `match` selects with `error` (their
   * clients get a failed receipt with its code, charged only for delivered output). Returns how
   * many were stopped.
   */
  cancelRunning(match: (job: { capability: string; client: string }) => boolean, error: PrsmError): number {
    return this.provider.cancelRunning(match, error)
  }

  /** Runs a job on `provider`: accepted, then chunks in order, then the signed receipt. */
  run(
    provider: PeerId | string,
    request: RunJobRequest,
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<JobEvent, void, undefined> {
    return this.#client.run(provider, request, options)
  }

  /**
   * Runs a job to its end: the whole output and the receipt. A replayed receipt of a large output
   * carries no chunks: the output is fetched by its CID and checked against the receipt's hash.
   */
  async request(provider: PeerId | string, request: RunJobRequest, options: { signal?: AbortSignal } = {}) {
    const result = await collectJob(this.#client.run(provider, request, options))
    const cid = result.receipt.output.cid
    if (result.chunks > 0 || cid === undefined || this.#c.storage === undefined) return result
    const parts: Uint8Array[] = []
    for await (const chunk of this.#c.storage.cat(cid, options.signal ? { signal: options.signal } : {})) {
      parts.push(chunk)
    }
    const output = Buffer.concat(parts)
    if (createHash('sha256').update(output).digest('hex') !== result.receipt.outputHash) {
      throw new PrsmError('JOB_RECEIPT_INVALID', `the output at ${cid} does not match the receipt hash`)
    }
    return { ...result, output }
  }
}
