import { createHash } from 'node:crypto'
import { dirname, join } from 'node:path'
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
import { EvidenceStore, verifyEvidence } from './evidence.ts'
import {
  type JobClient as Client,
  collectJob,
  JobClient,
  type JobEvent,
  type RunJobRequest,
} from './job-client.ts'
import { JobProvider } from './job-provider.ts'
import { createJobStore, type JobStore } from './job-store.ts'
import { JOB_PROTOCOL, type JobMessages, registerJobMessages } from './messages.ts'
import { ReputationStore } from './reputation.ts'
import { computeJsBackend } from './sandbox/compute-js.ts'
import { computeWasmBackend } from './sandbox/compute-wasm.ts'
import { runVerified, type VerifiedResult } from './verification.ts'

export interface JobServiceComponents {
  libp2p: Pick<PrsmLibp2p, 'peerId' | 'dialProtocol' | 'handle' | 'unhandle'>
  privateKey: PrivateKey
  registry: MessageRegistry
  gate: Pick<MessageGate, 'receive' | 'reject' | 'maxBytes'>
  offers: Pick<OfferService, 'localOffers'>
  ledger: Pick<Ledger, 'enabled' | 'payer' | 'payee' | 'journal' | 'chain'>
  payments: Pick<PaymentService, 'peerOf' | 'deliver'>
  storage?: Pick<ContentStorage, 'cat' | 'add'>
  logger: Logger
}

export interface JobServiceInit {
  jobs: Config['jobs']
  /** The provider's job journal (SQLite); ':memory:' for tests. */
  storePath: string
  /** Reputation per provider (SQLite); default `reputation.db` next to `storePath`. */
  reputationPath?: string
  /** Evidence records of disagreements (SQLite); default `evidence.db` next to `storePath`. */
  evidencePath?: string
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
  readonly #messages: JobMessages
  /** What this node has seen of each provider as a client (updated by every job it runs). */
  readonly reputation: ReputationStore
  /** Signed evidence records of providers that disagreed with a verified majority. */
  readonly evidence: EvidenceStore
  #started = false

  constructor(components: JobServiceComponents, init: JobServiceInit) {
    this.#c = components
    this.#init = init
    const messages = registerJobMessages(components.registry)
    this.#messages = messages
    this.#store = createJobStore({ path: init.storePath })
    const beside = (name: string) =>
      init.storePath === ':memory:' ? ':memory:' : join(dirname(init.storePath), name)
    this.reputation = new ReputationStore({ path: init.reputationPath ?? beside('reputation.db') })
    this.evidence = new EvidenceStore({ path: init.evidencePath ?? beside('evidence.db') })
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
    // Served only when the node also offers compute:js / compute:wasm (its offer sets the price).
    if (components.storage !== undefined) {
      this.registerBackend('compute:js', computeJsBackend({ storage: components.storage }, init.jobs.compute))
      this.registerBackend(
        'compute:wasm',
        computeWasmBackend({ storage: components.storage }, init.jobs.compute),
      )
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
    this.reputation.close()
    this.evidence.close()
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

  /**
   * Runs a job on `provider`: accepted, then chunks in order, then the signed receipt. The outcome
   * goes into {@link reputation}: a receipt of a successful job is a success (with its latency);
   * a failed receipt or an error that is the provider's (see {@link providerFault}) a failure.
   */
  async *run(
    provider: PeerId | string,
    request: RunJobRequest,
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<JobEvent, void, undefined> {
    const peer = provider.toString()
    const started = performance.now()
    try {
      for await (const event of this.#client.run(provider, request, options)) {
        if (event.type === 'receipt') {
          const { status, error } = event.receipt
          if (status === 'ok') this.reputation.recordSuccess(peer, performance.now() - started)
          else if (providerFault(error?.code)) this.reputation.recordFailure(peer)
        }
        yield event
      }
    } catch (err) {
      if (providerFault((err as PrsmError).code) && !options.signal?.aborted) {
        this.reputation.recordFailure(peer)
      }
      throw err
    }
  }

  /**
   * Runs one step on `options.k` of `options.providers` at once and accepts the output of a
   * strict majority (JOB_NO_MAJORITY otherwise); dissenters get a signed evidence record and a
   * disagreement in {@link reputation}. See {@link runVerified}.
   */
  runVerified(
    request: RunJobRequest,
    options: { providers: string[]; k: number; signal?: AbortSignal },
  ): Promise<VerifiedResult> {
    return runVerified(
      {
        request: (provider, req, opts) => this.request(provider, req, opts),
        reputation: this.reputation,
        evidence: this.evidence,
        privateKey: this.#c.privateKey,
        messages: this.#messages,
      },
      request,
      options,
    )
  }

  /** Checks a signed evidence record on its own (JOB_EVIDENCE_INVALID when it does not verify). */
  verifyEvidence(bytes: Uint8Array) {
    return verifyEvidence(bytes, this.#messages, this.#c.registry)
  }

  /**
   * Runs a job to its end: the whole output and the receipt. A replayed receipt of a large output
   * carries no chunks: the output is fetched by its CID and checked against the receipt's hash.
   */
  async request(provider: PeerId | string, request: RunJobRequest, options: { signal?: AbortSignal } = {}) {
    const result = await collectJob(this.run(provider, request, options))
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

/**
 * Error codes that count against a provider's reputation: its backend failed, it missed the
 * deadline, it was busy or unreachable, or it answered with something that does not verify.
 * Refusals caused by the request (price, inputs, safety, duplicates) and cancels do not count.
 */
const PROVIDER_FAULTS = new Set<string>([
  'JOB_BACKEND_FAILED',
  'JOB_DEADLINE_EXCEEDED',
  'JOB_BUSY',
  'JOB_INTERRUPTED',
  'JOB_NO_BACKEND',
  'JOB_RECEIPT_INVALID',
  'PEER_UNREACHABLE',
  'MESSAGE_BAD_SIGNATURE',
  'MESSAGE_MALFORMED',
  'MESSAGE_OVERSIZE',
  'MESSAGE_UNKNOWN_TYPE',
  'MESSAGE_STALE',
  'INTERNAL',
])

export function providerFault(code: string | undefined): boolean {
  return code !== undefined && PROVIDER_FAULTS.has(code)
}
