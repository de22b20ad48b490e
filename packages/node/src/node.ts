import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Deployment } from '@prsm/contracts'
import { type Config, MessageRegistry, PrsmError } from '@prsm/core'
import { FsDatastore } from 'datastore-fs'
import type { FastifyInstance } from 'fastify'
import type { Blockstore } from 'interface-blockstore'
import type { Datastore } from 'interface-datastore'
import type { Logger } from 'pino'
import { ApiAuth } from './api/auth/api-auth.ts'
import { auditRoutes } from './api/routes/audit.ts'
import { contentRoutes } from './api/routes/content.ts'
import { governanceRoutes } from './api/routes/governance.ts'
import { haltRoutes } from './api/routes/halts.ts'
import { jobRoutes } from './api/routes/jobs.ts'
import { keyRoutes } from './api/routes/keys.ts'
import { ledgerRoutes } from './api/routes/ledger.ts'
import { manifestRoutes } from './api/routes/manifests.ts'
import { nodeRoutes } from './api/routes/node.ts'
import { openAiRoutes } from './api/routes/openai.ts'
import { orgRoutes } from './api/routes/orgs.ts'
import { queryRoutes } from './api/routes/queries.ts'
import { reputationRoutes } from './api/routes/reputation.ts'
import { safetyRoutes } from './api/routes/safety.ts'
import { traceRoutes } from './api/routes/traces.ts'
import { type ApiRoutes, apiUrl, createApiServer } from './api/server.ts'
import { ChainAudit } from './audit/chain-audit.ts'
import { createNodeAudit, type NodeAudit } from './audit/node-audit.ts'
import { GovernanceService } from './governance/governance-service.ts'
import type { Identity } from './identity/identity.ts'
import type { SafetyHook } from './jobs/backend.ts'
import { JobService } from './jobs/job-service.ts'
import { withLocalModels } from './jobs/local-models.ts'
import { computeJsBackend } from './jobs/sandbox/compute-js.ts'
import { computeWasmBackend } from './jobs/sandbox/compute-wasm.ts'
import { deploymentFromConfig, ledgerFromConfig, startNodeLedger } from './ledger/from-config.ts'
import type { Ledger } from './ledger/ledger.ts'
import { parseFtns } from './ledger/wallet.ts'
import { createLogger } from './logger.ts'
import { type FoundOffer, OfferService } from './market/offers.ts'
import { PaymentService } from './market/payments.ts'
import { buildLibp2p, type PrsmLibp2p } from './net/libp2p.ts'
import { MessageGate } from './net/message-gate.ts'
import { PeerPenalties } from './net/penalties.ts'
import { KnownPeers } from './net/reconnect.ts'
import { openAIEmbedder } from './orchestrator/compression/index.ts'
import { defaultCompressor } from './orchestrator/compressor.ts'
import { Orchestrator } from './orchestrator/orchestrator.ts'
import { removeRuntimeFile, writeRuntimeFile } from './runtime-file.ts'
import { HaltService } from './safety/halt/halt-service.ts'
import { guardedSafety } from './safety/halt/job-guard.ts'
import { LineageService } from './safety/lineage.ts'
import { jobModelRunner } from './safety/model-runner.ts'
import { SafetyService } from './safety/safety-service.ts'
import { ManifestService } from './storage/manifests.ts'
import { ReplicationService } from './storage/replication.ts'
import { ContentStorage } from './storage/storage.ts'

export const NODE_VERSION = '0.1.0'

export interface PrsmNodeInit {
  config: Config
  identity: Identity
  /** The data directory; holds the datastore (peer store, DHT records), node.json and the API token. */
  dataDir: string
  logger?: Logger
  /** Defaults to a filesystem datastore in `<dataDir>/datastore`. */
  datastore?: Datastore
  /** Defaults to a filesystem blockstore in `<dataDir>/blocks` (tests wrap it to model faulty peers). */
  blockstore?: Blockstore
  /** Serve the local HTTP API (default true). */
  api?: boolean
  /** Write `<dataDir>/node.json` and `<dataDir>/api.token` while running (default true). */
  runtimeFile?: boolean
  /** The chain to use; defaults to the deployment file named by `config.chain.deployment`. */
  deployment?: Deployment
  /** The provider's safety check on every job request (default: let everything through). */
  safety?: SafetyHook
}

export interface PeerInfo {
  peerId: string
  addrs: string[]
  direction: string
  penalty: number
}

/**
 * A PRSM node: the one place where the parts are wired together. Each part gets only the
 * components it declares; nothing reaches into another part's internals.
 */
export class PrsmNode {
  readonly config: Config
  readonly identity: Identity
  readonly dataDir: string
  readonly logger: Logger
  readonly registry = new MessageRegistry()
  readonly penalties: PeerPenalties
  readonly gate: MessageGate
  readonly libp2p: PrsmLibp2p
  readonly offers: OfferService
  /** IPFS content: files, blocks, pins (Helia on this node's libp2p host). */
  readonly storage: ContentStorage
  /** Signed manifests of models, datasets and tools, and their provenance graph. */
  readonly manifests: ManifestService
  /** Paid replication: pin requests to `storage:pin` providers, receipts, spot checks. */
  readonly replication: ReplicationService
  /** Wallet, payment channels, claims and network parameters (CHAIN_NOT_CONFIGURED without a chain). */
  readonly ledger: Ledger
  readonly payments: PaymentService
  /** Jobs between peers: this node's offers served by registered backends, and jobs it requests. */
  readonly jobs: JobService
  /** NWTN: workflows and queries run over the network (routed, paid, rerouted) with signed traces. */
  readonly orchestrator: Orchestrator
  /** The audit log: hash-chained, signed checkpoints, alert webhooks (`<dataDir>/audit.db`). */
  readonly audit: NodeAudit
  /** Emergency halt by validator quorum: votes, certificates, evidence (`<dataDir>/halt.db`). */
  readonly halts: HaltService
  /** Circuit breakers: tier-1/2/3 checks on job requests and outputs, breakers per provider and model. */
  readonly safety: SafetyService
  /** Model lineage safeguards: capability jumps need an executed approval proposal. */
  readonly lineage: LineageService
  /** Proposals and votes on the on-chain Governor; applied parameter changes are audited. */
  readonly governance: GovernanceService
  /** API keys, organisations, JWTs, rate limits and daily budgets (`<dataDir>/api-keys.db`). */
  readonly apiAuth: ApiAuth
  readonly #knownPeers: KnownPeers
  #chainAudit: ChainAudit | undefined
  readonly #init: PrsmNodeInit
  #api: FastifyInstance | undefined
  #apiUrl: string | undefined
  #startedAt = 0

  static async create(init: PrsmNodeInit): Promise<PrsmNode> {
    // A bad deployment file fails here, before the node opens anything.
    const deployment = init.deployment ?? deploymentFromConfig(init.config)
    const logger = init.logger ?? createLogger({ level: init.config.logLevel })
    // With jobs.localModels.detect, a local Ollama's models become offers served by this node.
    init = { ...init, config: await withLocalModels(init.config, { logger }) }
    const datastore = init.datastore ?? (await openDatastore(init.dataDir))
    init = { ...init, datastore }
    const penalties = new PeerPenalties(init.config.penalties)
    const libp2p = await buildLibp2p(init.config, {
      privateKey: init.identity.nodeKey,
      datastore,
      connectionGater: penalties.gater(),
    })
    return new PrsmNode({ ...init, ...(deployment ? { deployment } : {}) }, logger, penalties, libp2p)
  }

  private constructor(init: PrsmNodeInit, logger: Logger, penalties: PeerPenalties, libp2p: PrsmLibp2p) {
    this.#init = init
    this.config = init.config
    this.identity = init.identity
    this.dataDir = init.dataDir
    this.logger = logger
    this.penalties = penalties
    this.libp2p = libp2p
    this.gate = new MessageGate({ registry: this.registry, penalties }, init.config.messages)
    this.offers = new OfferService(
      {
        libp2p,
        privateKey: init.identity.nodeKey,
        registry: this.registry,
        gate: this.gate,
        penalties,
        logger: logger.child({ part: 'offers' }),
      },
      {
        offers: init.config.offers,
        offerTtlMs: init.config.offerTtlMs,
        gossip: init.config.gossip.enabled,
        dht: init.config.dht.enabled,
      },
    )
    this.audit = createNodeAudit(init.config, {
      dataDir: init.dataDir,
      signer: { peerId: libp2p.peerId.toString(), sign: (data) => init.identity.nodeKey.sign(data) },
      logger: logger.child({ part: 'audit' }),
    })
    this.ledger = ledgerFromConfig(init.config, init.deployment, {
      dataDir: init.dataDir,
      identity: init.identity,
      logger: logger.child({ part: 'ledger' }),
    })
    this.payments = new PaymentService(
      {
        libp2p,
        privateKey: init.identity.nodeKey,
        registry: this.registry,
        gate: this.gate,
        ledger: this.ledger,
        logger: logger.child({ part: 'payments' }),
      },
      { peersFile: join(init.dataDir, 'channel-peers.json') },
    )
    this.storage = new ContentStorage(
      {
        libp2p,
        datastore: init.datastore as Datastore,
        penalties,
        logger: logger.child({ part: 'storage' }),
        ...(init.blockstore === undefined ? {} : { blockstore: init.blockstore }),
      },
      { ...init.config.storage, blocksPath: join(init.dataDir, 'blocks') },
    )
    this.safety = new SafetyService(
      {
        ...(this.ledger.enabled ? { parameters: this.ledger.parameters } : {}),
        fetchBlock: (cid, options) => this.storage.block(cid.toString(), options),
        runModel: jobModelRunner({
          jobs: { run: (provider, request, options) => this.jobs.run(provider, request, options) },
          findOffers: (capability, options) => this.findOffers(capability, options),
          self: libp2p.peerId.toString(),
        }),
        audit: this.audit,
        reputation: { recordSafetyViolation: (peer) => this.jobs.reputation.recordSafetyViolation(peer) },
        network: { libp2p, privateKey: init.identity.nodeKey, registry: this.registry, gate: this.gate },
        logger: logger.child({ part: 'safety' }),
      },
      { safety: init.config.safety },
    )
    this.jobs = new JobService(
      {
        libp2p,
        privateKey: init.identity.nodeKey,
        registry: this.registry,
        gate: this.gate,
        offers: this.offers,
        ledger: this.ledger,
        payments: this.payments,
        storage: this.storage,
        logger: logger.child({ part: 'jobs' }),
      },
      {
        jobs: init.config.jobs,
        storePath: join(init.dataDir, 'jobs.db'),
        // Halt certificates and lineage refusals come first, then the circuit breakers.
        safety: guardedSafety(
          [
            (request) =>
              this.halts.assertNotHalted({ provider: this.peerId, capability: request.capability }),
            (request) => this.lineage.assertServable(request.capability),
          ],
          init.safety ?? this.safety,
        ),
      },
    )
    this.halts = new HaltService(
      {
        libp2p,
        privateKey: init.identity.nodeKey,
        registry: this.registry,
        gate: this.gate,
        ledger: this.ledger,
        jobs: { cancelRunning: (match, error) => this.jobs.cancelRunning(match, error) },
        audit: this.audit,
        logger: logger.child({ part: 'halt' }),
      },
      {
        storePath: join(init.dataDir, 'halt.db'),
        validatorRefreshMs: init.config.halt.validatorRefreshMs,
        gossip: init.config.gossip.enabled,
      },
    )
    this.governance = new GovernanceService({
      ledger: this.ledger,
      evidence: (id) => this.halts.evidence().find((e) => e.id === id),
      audit: this.audit,
      logger: logger.child({ part: 'governance' }),
    })
    this.apiAuth = new ApiAuth(
      {
        // API auth events: sign-ins and key changes are authentication, refusals authorization.
        audit: {
          append: (e) => {
            const denied = e.outcome === 'denied'
            this.audit.append({ ...e, category: denied ? 'authorization' : 'authentication' })
          },
        },
      },
      {
        path: join(init.dataDir, 'api-keys.db'),
        signingSecret: init.identity.nodeKey.raw,
        issuer: libp2p.peerId.toString(),
        tokenTtlSeconds: init.config.api.tokenTtlSeconds,
        defaultRateLimitPerMinute: init.config.api.defaultRateLimitPerMinute,
      },
    )
    this.manifests = new ManifestService(
      {
        libp2p,
        storage: this.storage,
        privateKey: init.identity.nodeKey,
        walletKey: init.identity.walletKey,
        registry: this.registry,
        gate: this.gate,
        datastore: init.datastore as Datastore,
        logger: logger.child({ part: 'manifests' }),
      },
      { gossip: init.config.gossip.enabled, dht: init.config.dht.enabled },
    )
    this.lineage = new LineageService(
      {
        manifests: this.manifests,
        storage: this.storage,
        ledger: this.ledger,
        audit: this.audit,
        logger: logger.child({ part: 'lineage' }),
      },
      { lineage: init.config.lineage },
    )
    this.orchestrator = new Orchestrator(
      {
        // Every job the orchestrator runs feeds the breakers; provider responses get tier 1.
        jobs: {
          ...this.safety.observeJobs(this.jobs),
          runVerified: (request, options) => this.jobs.runVerified(request, options),
        },
        findOffers: (capability, options) => this.findOffers(capability, options),
        knownOffers: () => this.offers.knownOffers(),
        storage: this.storage,
        manifests: this.manifests,
        ledger: this.ledger,
        payments: this.payments,
        privateKey: init.identity.nodeKey,
        peerId: libp2p.peerId.toString(),
        safety: {
          routable: (provider, capability) =>
            this.halts.isHalted({ provider, capability }) === undefined &&
            this.safety.routable(provider, capability),
        },
        reputation: {
          get: (peer) => {
            const r = this.jobs.reputation.get(peer)
            if (r.jobs === 0) return undefined
            return {
              successRate: r.score,
              disagreements: r.disagreements,
              ...(r.latencyEwmaMs === null ? {} : { latencyMs: r.latencyEwmaMs }),
            }
          },
        },
        compress: defaultCompressor(compressionExtras(init.config.compression)),
        checkQuery: async (text) => {
          const a = await this.safety.assess(text, { client: this.peerId })
          return a.blocked ? { allow: false, reason: a.threatLevel } : { allow: true }
        },
        reexecutors: new Map([
          ['compute:js', computeJsBackend({ storage: this.storage }, init.config.jobs.compute)],
          ['compute:wasm', computeWasmBackend({ storage: this.storage }, init.config.jobs.compute)],
        ]),
        logger: logger.child({ part: 'orchestrator' }),
      },
      init.config.orchestrator,
    )
    this.replication = new ReplicationService(
      {
        libp2p,
        privateKey: init.identity.nodeKey,
        registry: this.registry,
        gate: this.gate,
        offers: this.offers,
        storage: this.storage,
        datastore: init.datastore as Datastore,
        ledger: this.ledger,
        payments: this.payments,
        logger: logger.child({ part: 'replication' }),
      },
      {
        spotCheckIntervalMs: init.config.storage.spotCheckIntervalMs,
        spotCheckBlocks: init.config.storage.spotCheckBlocks,
        paymentGraceMs: init.config.storage.pinPaymentGraceMs,
        channelDeposit: parseFtns(init.config.storage.pinChannelDeposit),
      },
    )
    this.#knownPeers = new KnownPeers(
      {
        libp2p,
        logger,
        discover: async ({ signal }) => {
          for await (const _ of libp2p.services.dht.getClosestPeers(libp2p.peerId.toMultihash().bytes, {
            signal,
          })) {
            // the lookup itself connects to the peers it finds and fills the routing table
          }
        },
      },
      {
        bootstrap: init.config.bootstrap,
        minPeers: init.config.connections.minPeers,
        reconnect: init.config.connections.reconnectKnownPeers,
      },
    )
    this.gate.on('rejected', (r) =>
      logger.warn({ from: r.from, code: r.code, reason: r.message }, 'message rejected'),
    )
    penalties.onBan((peer, record) => {
      logger.warn({ peer: peer.toString(), score: record.score, offences: record.offences }, 'peer banned')
      this.audit.append({
        category: 'network_security',
        type: 'peer.banned',
        subject: peer.toString(),
        outcome: 'denied',
        risk: 60,
        details: { score: record.score, offences: record.offences },
      })
      libp2p.hangUp(peer).catch(() => undefined)
    })
  }

  get peerId(): string {
    return this.libp2p.peerId.toString()
  }

  /** Reputation per provider PeerId, from every job this node ran as a client (for routing). */
  get reputation(): JobService['reputation'] {
    return this.jobs.reputation
  }

  /** The running API server (tests call `inject()` on it); undefined when the API is off. */
  get api(): FastifyInstance | undefined {
    return this.#api
  }

  get apiUrl(): string | undefined {
    return this.#apiUrl
  }

  async start(): Promise<void> {
    this.#startedAt = Date.now()
    await startNodeLedger(this.ledger, this.config, { logger: this.logger.child({ part: 'ledger' }) })
    await this.libp2p.start()
    this.#knownPeers.start()
    await this.offers.start()
    await this.storage.start()
    await this.manifests.start()
    await this.replication.start()
    await this.payments.start()
    // Stored halt certificates are enforced before the first job request is served.
    await this.halts.start()
    await this.jobs.start()
    await this.orchestrator.start()
    await this.safety.start()
    this.governance.start()
    if (this.ledger.enabled) {
      this.#chainAudit = new ChainAudit(
        { chain: this.ledger.chain, audit: this.audit, logger: this.logger.child({ part: 'audit' }) },
        { pollMs: this.config.chain.parameterPollMs },
      )
      await this.#chainAudit.start()
    }
    this.audit.append({
      category: 'authentication',
      type: 'identity.unlocked',
      actor: this.identity.address,
      subject: this.peerId,
      outcome: 'success',
    })
    this.audit.append({
      category: 'system_integrity',
      type: 'node.start',
      actor: this.peerId,
      outcome: 'success',
      details: { address: this.identity.address, version: NODE_VERSION },
    })
    if (this.#init.api !== false) {
      const token = this.apiAuth.rotateLocalToken()
      this.#api = await createApiServer(
        { logger: this.logger.child({ part: 'api' }), guard: this.apiAuth },
        {
          host: this.config.api.host,
          port: this.config.api.port,
          bodyLimit: this.config.api.bodyLimitBytes,
          requestTimeoutMs: this.config.api.requestTimeoutMs,
          corsOrigins: this.config.api.corsOrigins,
          version: NODE_VERSION,
        },
        this.apiRoutes(),
      )
      this.#apiUrl = apiUrl(this.#api)
      if (this.#init.runtimeFile !== false) {
        await writeRuntimeFile(this.dataDir, {
          pid: process.pid,
          peerId: this.peerId,
          multiaddrs: this.multiaddrs(),
          apiUrl: this.#apiUrl,
          token,
        })
      }
    }
    this.logger.info(
      {
        peerId: this.peerId,
        address: this.identity.address,
        multiaddrs: this.multiaddrs(),
        api: this.#apiUrl,
      },
      'node started',
    )
  }

  async stop(): Promise<void> {
    if (this.#init.runtimeFile !== false && this.#api !== undefined) await removeRuntimeFile(this.dataDir)
    await this.#api?.close()
    this.#api = undefined
    this.apiAuth.close()
    await this.#chainAudit?.stop()
    this.governance.stop()
    await this.safety.stop()
    await this.halts.stop()
    await this.orchestrator.stop()
    await this.jobs.stop()
    await this.payments.stop()
    await this.ledger.stop()
    await this.replication.stop()
    await this.manifests.stop()
    await this.storage.stop()
    await this.offers.stop()
    this.#knownPeers.stop()
    await this.libp2p.stop()
    this.audit.append({
      category: 'system_integrity',
      type: 'node.stop',
      actor: this.peerId,
      outcome: 'success',
    })
    await this.audit.stop()
    this.logger.info({ peerId: this.peerId }, 'node stopped')
    this.logger.flush() // buffered log lines are written before stop() resolves
  }

  /** Every area's API routes; an area added to the node adds its routes here. */
  apiRoutes(): ApiRoutes[] {
    return [
      nodeRoutes({
        status: () => this.status(),
        peers: () => this.peers(),
        findOffers: (capability, options) => this.findOffers(capability, options),
      }),
      contentRoutes({ storage: this.storage, replication: this.replication }),
      manifestRoutes({ manifests: this.manifests }),
      keyRoutes({ auth: this.apiAuth }),
      orgRoutes({ auth: this.apiAuth }),
      ledgerRoutes({ ledger: this.ledger, payments: this.payments }),
      haltRoutes({ halts: this.halts }),
      safetyRoutes({ safety: this.safety }),
      auditRoutes({ audit: this.audit, peerId: this.peerId }),
      governanceRoutes({ governance: this.governance, lineage: this.lineage }),
      jobRoutes({
        // Jobs run through the API are checked and feed the breakers; open breakers are not picked.
        jobs: this.safety.observeJobs(this.jobs),
        peerId: this.peerId,
        findOffers: async (capability, options) =>
          (await this.findOffers(capability, options)).filter((o) =>
            this.safety.routable(o.provider, o.offer.capability),
          ),
      }),
      reputationRoutes({
        jobs: this.jobs,
        reputation: this.jobs.reputation,
        evidence: this.jobs.evidence,
        peerId: this.peerId,
        findOffers: (capability, options) => this.findOffers(capability, options),
      }),
      queryRoutes({
        orchestrator: this.orchestrator,
        defaultBudget: this.config.orchestrator.apiDefaultBudget,
      }),
      traceRoutes({ orchestrator: this.orchestrator }),
      openAiRoutes({
        jobs: this.safety.observeJobs(this.jobs),
        peerId: this.peerId,
        findOffers: async (capability, options) =>
          (await this.findOffers(capability, options)).filter((o) =>
            this.safety.routable(o.provider, o.offer.capability),
          ),
        planner: async (text, options) => {
          const result = await (await this.orchestrator.query(text, options)).result
          return { text: result.answer, cost: BigInt(result.cost.total), id: result.traceCid }
        },
      }),
    ]
  }

  multiaddrs(): string[] {
    return this.libp2p.getMultiaddrs().map((a) => a.toString())
  }

  async findOffers(
    capability: string | undefined,
    options: { dht?: boolean; timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<FoundOffer[]> {
    if (capability === undefined) return this.offers.knownOffers()
    try {
      return await this.offers.findOffers(capability, options)
    } catch (err) {
      if ((err as { name?: string }).name === 'ZodError') {
        throw new PrsmError('VALIDATION_FAILED', `invalid capability ${JSON.stringify(capability)}`)
      }
      throw err
    }
  }

  peers(): PeerInfo[] {
    return this.libp2p.getConnections().map((c) => ({
      peerId: c.remotePeer.toString(),
      addrs: [c.remoteAddr.toString()],
      direction: c.direction,
      penalty: this.penalties.get(c.remotePeer)?.score ?? 0,
    }))
  }

  status(): Record<string, unknown> {
    const peers = new Set(this.libp2p.getConnections().map((c) => c.remotePeer.toString()))
    return {
      version: NODE_VERSION,
      peerId: this.peerId,
      address: this.identity.address,
      multiaddrs: this.multiaddrs(),
      apiUrl: this.#apiUrl,
      uptimeMs: Date.now() - this.#startedAt,
      peers: peers.size,
      connections: this.libp2p.getConnections().length,
      dhtMode: this.libp2p.services.dht.getMode(),
      offers: this.offers.localOffers().map((o) => o.offer.capability),
      chain: this.ledger.enabled
        ? { chainId: this.ledger.chain.deployment.chainId, wallet: this.ledger.chain.address }
        : null,
      knownOffers: this.offers.knownOffers().length,
      jobs: {
        ...this.jobs.provider.stats(),
        backends: this.jobs.provider.backends(),
        earnings: this.jobs.provider.earnings(),
      },
      messages: this.gate.stats(),
      banned: this.penalties.list().filter((p) => p.bannedUntil !== undefined && p.bannedUntil > Date.now()),
    }
  }
}

async function openDatastore(dataDir: string): Promise<Datastore> {
  const path = join(dataDir, 'datastore')
  await mkdir(path, { recursive: true, mode: 0o700 })
  const store = new FsDatastore(path)
  await store.open()
  return store
}

/** An embedding backend for context compression's preservation score, when one is configured. */
function compressionExtras(config: Config['compression']): { embed?: ReturnType<typeof openAIEmbedder> } {
  const { baseUrl, model, apiKeyEnv, maxInputTokens } = config.embedding
  if (baseUrl === '' || model === '') return {}
  return { embed: openAIEmbedder({ baseUrl, model, maxInputTokens, ...(apiKeyEnv ? { apiKeyEnv } : {}) }) }
}
