import { z } from 'zod'
import { PrsmError } from './errors.ts'
import { OfferInitSchema } from './offer.ts'

const ftnsDecimal = z.string().regex(/^\d+(\.\d{1,18})?$/, 'must be a decimal FTNS amount such as 0.002')

/** One upstream model API a provider serves offers with; its key comes from the environment. */
const JobBackendSchema = z
  .object({
    type: z
      .enum(['openai-compatible', 'anthropic', 'huggingface'])
      .describe(
        'Wire format: OpenAI chat completions (OpenAI, Ollama, vLLM, llama.cpp, LM Studio), the Anthropic Messages API, or Hugging Face TGI (its OpenAI-compatible Messages API).',
      ),
    baseUrl: z
      .url()
      .describe(
        'API base URL, e.g. https://api.openai.com/v1, https://api.anthropic.com, http://127.0.0.1:8080.',
      ),
    apiKeyEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .optional()
      .describe(
        'NAME of the environment variable holding the API key (never the key itself; the key is never logged).',
      ),
    timeoutMs: z
      .number()
      .int()
      .min(100)
      .default(30_000)
      .describe('Time allowed for the upstream to start answering (the job deadline bounds the whole run).'),
    models: z
      .array(
        z
          .object({
            capability: z
              .string()
              .max(128)
              .describe('The capability (one of `offers`) this model serves, e.g. model:gpt-4o-mini.'),
            model: z.string().min(1).max(256).describe('The upstream model name sent to the API.'),
            inputCostPerMTok: ftnsDecimal
              .default('0')
              .describe("The operator's upstream cost per million input tokens, in FTNS (price table)."),
            outputCostPerMTok: ftnsDecimal
              .default('0')
              .describe("The operator's upstream cost per million output tokens, in FTNS (price table)."),
            maxTokens: z
              .number()
              .int()
              .min(1)
              .default(1024)
              .describe('max_tokens sent upstream when the request does not set it.'),
          })
          .strict(),
      )
      .min(1)
      .describe('Upstream models and the capabilities they serve.'),
  })
  .strict()
export type JobBackendConfig = z.output<typeof JobBackendSchema>

const multiaddr = z
  .string()
  .regex(
    /^\/(ip4|ip6|dns|dns4|dns6|dnsaddr|p2p|memory|unix)\/|^\/p2p-circuit$/,
    'must be a multiaddr such as /ip4/127.0.0.1/tcp/4001',
  )

/**
 * The node configuration. Every field is documented here and nowhere else; `docs/configuration.md`
 * is generated from this schema (`npm run docs:config`) and checked for drift by a test.
 *
 * Precedence: defaults < `<data-dir>/config.json` < `PRSM_*` environment < command-line flags.
 */
export const ConfigSchema = z
  .object({
    listen: z
      .array(multiaddr)
      .default(['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'])
      .describe(
        'Multiaddrs to listen on. Port 0 picks a free port. Use /ip4/0.0.0.0/tcp/4001 to accept remote peers.',
      ),
    announce: z
      .array(multiaddr)
      .default([])
      .describe('Multiaddrs to announce instead of the listen addresses (e.g. a public address behind NAT).'),
    bootstrap: z
      .array(multiaddr)
      .default([])
      .describe('Multiaddrs (ending in /p2p/PEER_ID) of peers to join the network through.'),
    mdns: z.boolean().default(false).describe('Discover peers on the local network with mDNS.'),
    relay: z.boolean().default(false).describe('Act as a circuit-relay-v2 server for peers behind NAT.'),
    api: z
      .object({
        host: z.string().default('127.0.0.1').describe('Address the local HTTP API binds to.'),
        port: z
          .number()
          .int()
          .min(0)
          .max(65535)
          .default(0)
          .describe('Port of the local HTTP API; 0 picks a free port.'),
        bodyLimitBytes: z
          .number()
          .int()
          .min(1024)
          .default(1024 * 1024)
          .describe('Largest JSON request body in bytes (streamed content uploads are not limited by it).'),
        requestTimeoutMs: z
          .number()
          .int()
          .min(1000)
          .default(60_000)
          .describe('Time allowed to receive a whole request, in ms (slow clients are cut off).'),
        tokenTtlSeconds: z
          .number()
          .int()
          .min(30)
          .max(86_400)
          .default(900)
          .describe('Lifetime of the JWTs that POST /api/v1/auth/token issues for an API key.'),
        defaultRateLimitPerMinute: z
          .number()
          .int()
          .min(1)
          .default(600)
          .describe('Requests per minute allowed to an API key created without its own limit.'),
        corsOrigins: z
          .array(z.string().max(256))
          .default([])
          .describe(
            'Origins (e.g. https://app.example) whose browser pages may call the API with a key or token; "*" allows any; empty: none.',
          ),
      })
      .strict()
      .prefault({}),
    connections: z
      .object({
        maxConnections: z.number().int().min(1).default(300).describe('Maximum open connections.'),
        maxParallelDials: z.number().int().min(1).default(50).describe('Maximum dials in progress at once.'),
        dialTimeoutMs: z.number().int().min(100).default(10_000).describe('Time allowed for one dial.'),
        inboundPerHostPerSecond: z
          .number()
          .int()
          .min(1)
          .default(5)
          .describe(
            'Inbound connections accepted per second from one host before it is refused (flood protection).',
          ),
        allow: z
          .array(multiaddr)
          .default([])
          .describe(
            'Address ranges exempt from connection limits, e.g. /ip4/127.0.0.0/ipcidr/8 for a local test network.',
          ),
        pingIntervalMs: z
          .number()
          .int()
          .min(1_000)
          .default(30_000)
          .describe('How often each connection is pinged to detect dead peers and measure latency.'),
        reconnectKnownPeers: z
          .number()
          .int()
          .min(0)
          .default(20)
          .describe(
            'At start, dial up to this many peers from the persisted peer store, most recently seen first.',
          ),
        minPeers: z
          .number()
          .int()
          .min(0)
          .default(1)
          .describe(
            'While fewer peers than this are connected, bootstrap and known peers are re-dialled every 10 s.',
          ),
      })
      .strict()
      .prefault({}),
    dht: z
      .object({
        enabled: z.boolean().default(true).describe('Announce and find offers through the Kad-DHT.'),
        addresses: z
          .enum(['all', 'public', 'private'])
          .default('all')
          .describe('Which peer addresses the DHT keeps: all, only public, or only private/loopback ones.'),
      })
      .strict()
      .prefault({}),
    gossip: z
      .object({
        enabled: z.boolean().default(true).describe('Announce and learn offers through gossipsub.'),
        ipColocationThreshold: z
          .number()
          .int()
          .min(1)
          .default(10)
          .describe('Peers sharing one IP address beyond this count lose gossip score (a Sybil defence).'),
        ipColocationWhitelist: z
          .array(z.string().max(64))
          .default([])
          .describe(
            'IP addresses exempt from the same-IP gossip penalty, e.g. 127.0.0.1 for a local test network.',
          ),
      })
      .strict()
      .prefault({}),
    messages: z
      .object({
        maxBytes: z
          .number()
          .int()
          .min(1024)
          .max(16 * 1024 * 1024)
          .default(256 * 1024)
          .describe('Size cap of one signed network message, in bytes.'),
        maxClockSkewMs: z
          .number()
          .int()
          .min(1000)
          .default(120_000)
          .describe(
            'Messages whose timestamp differs from local time by more than this are rejected as stale.',
          ),
      })
      .strict()
      .prefault({}),
    penalties: z
      .object({
        threshold: z
          .number()
          .min(1)
          .default(100)
          .describe('Penalty score at which a peer is disconnected and refused for the cool-down.'),
        cooldownMs: z
          .number()
          .int()
          .min(0)
          .default(600_000)
          .describe('How long a penalised peer is refused.'),
        decayPerMinute: z
          .number()
          .min(0)
          .default(10)
          .describe('Penalty points forgiven per minute of good behaviour.'),
      })
      .strict()
      .prefault({}),
    chain: z
      .object({
        deployment: z
          .string()
          .default('')
          .describe(
            'Path of the deployment file of the chain to use (written by prsm devnet up or prsm chain deploy; --devnet FILE sets it). Empty: no chain, paid features answer CHAIN_NOT_CONFIGURED.',
          ),
        claimThreshold: z
          .string()
          .regex(/^\d+(\.\d{1,18})?$/, 'must be a decimal FTNS amount such as 10')
          .default('10')
          .describe(
            'The claim loop claims a channel once this much FTNS on it is unclaimed (or expiry nears).',
          ),
        reconcileIntervalMs: z
          .number()
          .int()
          .min(100)
          .default(15_000)
          .describe('How often the claim loop checks the channels this node is paid through.'),
        parameterPollMs: z
          .number()
          .int()
          .min(50)
          .default(5_000)
          .describe('How often the node checks the parameter registry for changes made by governance.'),
        faucet: z
          .boolean()
          .default(true)
          .describe(
            "On a devnet deployment, fund this node's wallet from the faucet at start (gas, and FTNS when it has none).",
          ),
      })
      .strict()
      .prefault({}),
    storage: z
      .object({
        chunkSize: z
          .number()
          .int()
          .min(1024)
          .max(2 * 1024 * 1024)
          .default(1024 * 1024)
          .describe('UnixFS chunk size in bytes for imported files (CIDv1, raw leaves, balanced layout).'),
        blockTimeoutMs: z
          .number()
          .int()
          .min(100)
          .default(10_000)
          .describe('Time a provider is given to serve one block before the next provider is tried.'),
        providerLookupTimeoutMs: z
          .number()
          .int()
          .min(100)
          .default(10_000)
          .describe('Time allowed for a DHT provider lookup of a CID.'),
        fetchConcurrency: z
          .number()
          .int()
          .min(1)
          .max(256)
          .default(8)
          .describe('Blocks of one file fetched in parallel (read ahead of the one being streamed).'),
        bitswap: z
          .boolean()
          .default(true)
          .describe(
            'Serve blocks over Bitswap and use it as a fallback to fetch from non-PRSM peers (e.g. Kubo).',
          ),
        gateways: z
          .array(z.url())
          .default([])
          .describe('Trustless HTTP gateways (raw blocks) tried after peers fail; every block is verified.'),
        kuboRpc: z
          .array(z.url())
          .default([])
          .describe(
            'Kubo RPC endpoints (/api/v0/block/get) tried after peers fail; every block is verified.',
          ),
        spotCheckIntervalMs: z
          .number()
          .int()
          .min(100)
          .default(600_000)
          .describe('How often replica holders are spot-checked (random blocks requested and verified).'),
        spotCheckBlocks: z
          .number()
          .int()
          .min(1)
          .default(3)
          .describe('Blocks requested from each replica holder per spot check.'),
        pinPaymentGraceMs: z
          .number()
          .int()
          .min(0)
          .default(120_000)
          .describe(
            'Holder with a chain and a priced storage:pin offer: time a requester has to pay a pin after the receipt; unpaid pins are released and the requester refused (PIN_PAYMENT_REQUIRED).',
          ),
        pinChannelDeposit: z
          .string()
          .regex(/^\d+(\.\d{1,18})?$/)
          .default('10')
          .describe(
            'Deposit (FTNS) of a payment channel opened automatically to a replica holder that has none with room.',
          ),
      })
      .strict()
      .prefault({}),
    jobs: z
      .object({
        maxConcurrent: z
          .number()
          .int()
          .min(1)
          .default(4)
          .describe(
            'Jobs this node runs at once as a provider (an offer may set a lower per-capability limit).',
          ),
        maxQueue: z
          .number()
          .int()
          .min(0)
          .default(16)
          .describe(
            'Accepted jobs that may wait for a free slot; beyond this, requests are refused with JOB_BUSY.',
          ),
        defaultDeadlineMs: z
          .number()
          .int()
          .min(100)
          .default(120_000)
          .describe('Deadline of a job this node requests when the caller gives none.'),
        maxDeadlineMs: z
          .number()
          .int()
          .min(1000)
          .default(900_000)
          .describe('Longest deadline this node accepts as a provider; later deadlines are shortened to it.'),
        paymentGraceMs: z
          .number()
          .int()
          .min(0)
          .default(30_000)
          .describe(
            'Provider: a client whose receipt has stayed unpaid longer than this is refused new priced jobs (JOB_PAYMENT_REQUIRED) until it pays.',
          ),
        compute: z
          .object({
            memoryBytes: z
              .number()
              .int()
              .min(1024 * 1024)
              .default(64 * 1024 * 1024)
              .describe('Memory cap of one compute:js program (QuickJS heap), in bytes.'),
            timeMs: z
              .number()
              .int()
              .min(10)
              .default(5_000)
              .describe(
                'Time cap of one compute:js program, in milliseconds (also bounded by the job deadline).',
              ),
            maxOutputBytes: z
              .number()
              .int()
              .min(1024)
              .default(16 * 1024 * 1024)
              .describe('Largest output of one compute:js program, in bytes.'),
          })
          .strict()
          .prefault({}),
        backends: z
          .array(JobBackendSchema)
          .default([])
          .describe(
            'Model backends this node serves its model offers with (each model maps to a capability).',
          ),
        localModels: z
          .object({
            detect: z
              .boolean()
              .default(false)
              .describe(
                'At start, probe a local Ollama and offer each of its models as model:<name> (served through its OpenAI-compatible API). Set by `prsm node start --detect-local-models`.',
              ),
            url: z
              .url()
              .default('http://127.0.0.1:11434')
              .describe('Base URL of the local Ollama (GET /api/tags lists its models).'),
            price: ftnsDecimal.default('0').describe('Price per token of the detected models, in FTNS.'),
            timeoutMs: z
              .number()
              .int()
              .min(50)
              .default(1_500)
              .describe('Time allowed for the probe; no answer means no local models.'),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    audit: z
      .object({
        checkpointEvery: z
          .number()
          .int()
          .min(1)
          .default(100)
          .describe('The node signs a checkpoint of the audit hash chain every this many entries.'),
        alerts: z
          .array(
            z
              .object({
                url: z.url().describe('Webhook that receives a JSON POST { alert: entry } for each match.'),
                categories: z
                  .array(z.string().max(64))
                  .default([])
                  .describe('Audit categories that match (empty: all).'),
                types: z
                  .array(z.string().max(128))
                  .default([])
                  .describe('Entry types that match (empty: all).'),
                minRisk: z
                  .number()
                  .min(0)
                  .max(100)
                  .default(0)
                  .describe('Least risk score (0-100) that matches.'),
                maxAttempts: z
                  .number()
                  .int()
                  .min(1)
                  .max(20)
                  .default(5)
                  .describe('Delivery attempts per entry (retried with exponential back-off).'),
                retryDelayMs: z
                  .number()
                  .int()
                  .min(10)
                  .default(500)
                  .describe('Delay before the first retry; doubled after each failure.'),
              })
              .strict(),
          )
          .default([])
          .describe('Alert rules: audit entries that match are POSTed to a webhook.'),
      })
      .strict()
      .prefault({}),
    halt: z
      .object({
        validatorRefreshMs: z
          .number()
          .int()
          .min(100)
          .default(30_000)
          .describe('How often the validator set is re-read from the on-chain provider registry.'),
      })
      .strict()
      .prefault({}),
    safety: z
      .object({
        enabled: z
          .boolean()
          .default(true)
          .describe(
            'Run the circuit-breaker checks on job requests and outputs (tier 1 always, tiers 2/3 when set).',
          ),
        breakerWindowMs: z
          .number()
          .int()
          .min(1000)
          .default(60_000)
          .describe('Sliding window over which breaker failure and violation rates are computed.'),
        breakerMinSamples: z
          .number()
          .int()
          .min(1)
          .default(10)
          .describe('Outcomes a breaker needs in its window before its rates can open it.'),
        gossip: z
          .boolean()
          .default(true)
          .describe(
            'Publish the breaker changes of this node as signed events and read the events of other nodes.',
          ),
        remoteWeight: z
          .number()
          .min(0)
          .max(1)
          .default(0.25)
          .describe(
            'Weight of one other node reporting a breaker open; a closed local breaker is treated as open while distinct reporters add up to 1 (0 ignores others).',
          ),
        tier2: z
          .object({
            capability: z
              .string()
              .max(128)
              .optional()
              .describe('Capability of the classifier / guard model run as a PRSM job (unset: tier 2 off).'),
            provider: z
              .string()
              .max(128)
              .optional()
              .describe('Provider peer id to run the classifier on (default: the cheapest offer found).'),
            threshold: z
              .number()
              .min(0)
              .max(1)
              .default(0.5)
              .describe('Classifier score at or above which the text is a `classifier` finding.'),
            mode: z
              .enum(['escalate', 'always'])
              .default('escalate')
              .describe('escalate: only texts with a tier-1 finding are classified; always: every text.'),
            timeoutMs: z
              .number()
              .int()
              .min(100)
              .default(10_000)
              .describe('Longest wait for the classifier before its category fails open or closed.'),
          })
          .strict()
          .prefault({}),
        tier3: z
          .object({
            capability: z
              .string()
              .max(128)
              .optional()
              .describe('Capability of the LLM judge asked about escalations (unset: tier 3 off).'),
            provider: z
              .string()
              .max(128)
              .optional()
              .describe('Provider peer id of the judge (default: cheapest offer).'),
            band: z
              .number()
              .min(0)
              .max(1)
              .default(0.2)
              .describe(
                'Escalate to the judge when the classifier score is within this distance of the threshold.',
              ),
            timeoutMs: z
              .number()
              .int()
              .min(100)
              .default(20_000)
              .describe('Longest wait for the judge before its category fails open or closed.'),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    lineage: z
      .object({
        models: z
          .record(z.string().max(128), z.string().max(128))
          .default({})
          .describe(
            'Model capability → manifest CID of the model version this node serves it with; a version with a parent is served only when its lineage check passes.',
          ),
        caps: z
          .record(z.string().max(128), z.number())
          .default({})
          .describe(
            'Absolute caps per evaluation metric: a model version whose metric reaches a cap needs an approving governance proposal.',
          ),
      })
      .strict()
      .prefault({}),
    compression: z
      .object({
        embedding: z
          .object({
            baseUrl: z
              .union([z.literal(''), z.url()])
              .default('')
              .describe(
                'Base URL of an OpenAI-compatible embeddings API (POST {baseUrl}/embeddings), e.g. http://127.0.0.1:11434/v1 for Ollama. With a model set, context compression scores preservation by embedding similarity; empty: by ROUGE-L.',
              ),
            model: z
              .string()
              .max(256)
              .default('')
              .describe('Embedding model name sent upstream (required with baseUrl).'),
            apiKeyEnv: z
              .union([z.literal(''), z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/)])
              .default('')
              .describe(
                'NAME of the environment variable holding the API key (never the key itself); empty: no key is sent.',
              ),
            maxInputTokens: z
              .number()
              .int()
              .min(16)
              .default(8_000)
              .describe(
                'Longest text sent to the embedding model (approximate tokens); longer texts are cut.',
              ),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    orchestrator: z
      .object({
        concurrency: z
          .number()
          .int()
          .min(1)
          .max(256)
          .default(8)
          .describe('Workflow steps of one run in flight at once (ready steps beyond this wait).'),
        maxAttempts: z
          .number()
          .int()
          .min(1)
          .max(10)
          .default(3)
          .describe(
            'Providers one step is tried on before the run fails (a failed or silent provider is replaced).',
          ),
        stepTimeoutMs: z
          .number()
          .int()
          .min(100)
          .default(120_000)
          .describe('Time one attempt of a step may take before it is rerouted (a step may set its own).'),
        channelDeposit: z
          .string()
          .regex(/^\d+(\.\d{1,18})?$/)
          .default('10')
          .describe('Deposit (FTNS) of a payment channel opened automatically to a provider that has none.'),
        defaultStepMaxPrice: z
          .string()
          .regex(/^\d+(\.\d{1,18})?$/)
          .default('0.1')
          .describe(
            'Most paid per provider for a step (FTNS) when neither the step nor the budget sets it; also the cap of a budget share.',
          ),
        apiDefaultBudget: z
          .string()
          .regex(/^\d+(\.\d{1,18})?$/)
          .default('10')
          .describe(
            'Budget (FTNS) of a workflow or query submitted through the API without one; reserved against the API key daily budget.',
          ),
        plannerModel: z
          .string()
          .max(128)
          .default('')
          .describe(
            'Model capability that plans queries into workflows (empty: the best model:* offer known).',
          ),
        plannerMaxAttempts: z
          .number()
          .int()
          .min(1)
          .max(10)
          .default(3)
          .describe('Times the planner model is asked for a valid workflow before the query fails.'),
        maxRunsKept: z
          .number()
          .int()
          .min(1)
          .default(100)
          .describe('Finished runs kept in memory for status and stream requests (oldest dropped first).'),
      })
      .strict()
      .prefault({}),
    offerTtlMs: z
      .number()
      .int()
      .min(10_000)
      .default(600_000)
      .describe('Lifetime of an offer this node signs; it is re-announced at half its lifetime.'),
    offers: z
      .array(OfferInitSchema)
      .default([])
      .describe('Capabilities this node offers, with their prices.'),
    logLevel: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info')
      .describe('Log level.'),
  })
  .strict()

export type Config = Readonly<z.output<typeof ConfigSchema>>
export type ConfigInput = z.input<typeof ConfigSchema>

/** Environment variables that belong to PRSM but are not config fields. */
export const RESERVED_ENV = new Set(['PRSM_DATA_DIR', 'PRSM_PASSWORD'])

export interface ConfigSources {
  /** Parsed `<data-dir>/config.json`, if any. */
  file?: unknown
  /** The process environment; only `PRSM_*` variables are read. */
  env?: Record<string, string | undefined>
  /** Values from command-line flags, already shaped like the config. */
  flags?: Record<string, unknown>
}

export interface LoadedConfig {
  config: Config
  /** Non-fatal findings, e.g. an unknown PRSM_* environment variable. */
  warnings: string[]
}

const DEFAULTS = ConfigSchema.parse({})

/** Leaf paths of the config (e.g. `messages.maxBytes`) with their default values. */
export function configLeaves(): Array<{ path: string[]; example: unknown }> {
  const out: Array<{ path: string[]; example: unknown }> = []
  const walk = (value: unknown, path: string[]): void => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, [...path, k])
    } else {
      out.push({ path, example: value })
    }
  }
  walk(DEFAULTS, [])
  return out
}

/** `messages.maxBytes` → `PRSM_MESSAGES_MAX_BYTES`. */
export function envName(path: readonly string[]): string {
  return `PRSM_${path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')}`
}

function coerceEnv(raw: string, example: unknown): unknown {
  if (Array.isArray(example)) {
    const trimmed = raw.trim()
    if (trimmed.startsWith('[')) return parseJson(trimmed)
    return trimmed === '' ? [] : trimmed.split(',').map((s) => s.trim())
  }
  if (typeof example === 'number') return raw.trim() === '' ? Number.NaN : Number(raw)
  if (typeof example === 'boolean') {
    if (/^(1|true|yes|on)$/i.test(raw)) return true
    if (/^(0|false|no|off)$/i.test(raw)) return false
    return raw
  }
  return raw
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let cursor = target
  for (const key of path.slice(0, -1)) {
    const next = cursor[key]
    if (next === null || typeof next !== 'object' || Array.isArray(next)) cursor[key] = {}
    cursor = cursor[key] as Record<string, unknown>
  }
  cursor[path[path.length - 1] as string] = value
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function merge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base
  if (isPlainObject(base) && isPlainObject(over)) {
    const out: Record<string, unknown> = { ...base }
    for (const [k, v] of Object.entries(over)) out[k] = merge(base[k], v)
    return out
  }
  return over
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}

/** Reads `PRSM_*` variables into a partial config, reporting unknown ones as warnings. */
export function configFromEnv(env: Record<string, string | undefined>): {
  partial: Record<string, unknown>
  warnings: string[]
} {
  const partial: Record<string, unknown> = {}
  const known = new Map(configLeaves().map((leaf) => [envName(leaf.path), leaf]))
  const warnings: string[] = []
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('PRSM_') || raw === undefined || RESERVED_ENV.has(name)) continue
    const leaf = known.get(name)
    if (leaf === undefined) {
      warnings.push(`unknown environment variable ${name} ignored`)
      continue
    }
    setPath(partial, leaf.path, coerceEnv(raw, leaf.example))
  }
  return { partial, warnings }
}

/**
 * Merges the sources in precedence order, validates once against {@link ConfigSchema} and
 * returns a deeply frozen config. Throws `CONFIG_INVALID` naming the field path and reason.
 */
export function loadConfig(sources: ConfigSources = {}): LoadedConfig {
  const { partial: envPartial, warnings } = configFromEnv(sources.env ?? {})
  const layers: Array<[string, unknown]> = [
    ['config.json', sources.file],
    ['environment', envPartial],
    ['flags', sources.flags],
  ]
  let merged: unknown = {}
  for (const [source, layer] of layers) {
    if (layer === undefined) continue
    if (!isPlainObject(layer)) {
      throw new PrsmError('CONFIG_INVALID', `${source}: the configuration must be a JSON object`, {
        details: { source, path: '', reason: 'not an object' },
      })
    }
    merged = merge(merged, layer)
  }
  const result = ConfigSchema.safeParse(merged)
  if (!result.success) {
    const issue = result.error.issues[0]
    const path = issue?.path.map(String).join('.') ?? ''
    const reason = issue?.message ?? 'invalid'
    throw new PrsmError(
      'CONFIG_INVALID',
      `invalid configuration at ${path === '' ? '(root)' : path}: ${reason}`,
      {
        details: {
          path,
          reason,
          issues: result.error.issues.map((i) => ({ path: i.path.map(String).join('.'), reason: i.message })),
        },
      },
    )
  }
  return { config: deepFreeze(result.data), warnings }
}
