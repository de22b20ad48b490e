import { type DestinationStream, type Logger, pino } from 'pino'

/** Fields whose values never reach a log line, in whatever object (up to three levels deep) they appear. */
export const SECRET_FIELDS: ReadonlySet<string> = new Set([
  'password',
  'privateKey',
  'nodeKey',
  'walletKey',
  'token',
  'apiKey',
  'authorization',
])

const CENSOR = '[redacted]'
const MAX_DEPTH = 3

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * `value` with every {@link SECRET_FIELDS} field censored, copying only the objects that change
 * (the caller's objects are never modified). A log line is a handful of flat fields, so this walk
 * costs a fraction of a microsecond, against several for path-based redaction on every line.
 */
export function redactSecrets<T>(value: T, depth = 0): T {
  if (depth > MAX_DEPTH || value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) {
    let out: unknown[] | undefined
    for (let i = 0; i < value.length; i++) {
      const next = redactSecrets(value[i] as unknown, depth + 1)
      if (next !== value[i]) {
        out ??= value.slice()
        out[i] = next
      }
    }
    return (out ?? value) as T
  }
  if (!isPlainObject(value)) return value
  let out: Record<string, unknown> | undefined
  for (const key in value) {
    const v = value[key]
    const next = SECRET_FIELDS.has(key) && v !== undefined ? CENSOR : redactSecrets(v, depth + 1)
    if (next !== v) {
      out ??= { ...value }
      out[key] = next
    }
  }
  return (out ?? value) as T
}

/** Where a line waits before it is written, at most. */
export const LOG_BUFFER_BYTES = 4096
export const LOG_BUFFER_MS = 100

/** What pino records on a destination marked with `needsMetadataGsym` before each write. */
interface LineMetadata {
  lastLevel: number
  lastTime: string
  lastMsg: string
  lastObj: object
  lastLogger: Logger
}

/** Lines at this level or above (error, fatal) are written at once, with everything before them. */
const WRITE_AT_ONCE_LEVEL = 50

/** Buffered destinations holding lines: written out synchronously when the process exits. */
const pending = new Set<BufferedDestination>()
let exitHookInstalled = false

function flushAllOnExit(): void {
  for (const destination of pending) destination.flushSync()
}

/**
 * A log destination that collects lines in memory and writes them in batches of at most `maxBytes`
 * (one synchronous `write` through sonic-boom, which retries a full pipe) when the next line would
 * not fit or the oldest line has waited `maxDelayMs`, instead of one system call per line. Error and fatal lines are written at
 * once, together with every line before them, and whatever is waiting is written when the process
 * exits (`exit` event: a normal shutdown, `process.exit()`, an uncaught exception) or when
 * `flush()`/`flushSync()` is called (the node's stop does). What a hard crash (SIGKILL, out of
 * memory, power loss) can lose: the lines of the last `maxDelayMs`, at most about `maxBytes`.
 */
export class BufferedDestination implements DestinationStream, LineMetadata {
  /** pino records the level of each line here before writing it (multistream uses the same). */
  readonly [pino.symbols.needsMetadataGsym] = true as const
  lastLevel = 0
  lastTime = ''
  lastMsg = ''
  lastObj: object = {}
  lastLogger = undefined as unknown as Logger
  readonly #out: { write(chunk: Buffer): boolean }
  readonly #maxBytes: number
  readonly #maxDelayMs: number
  /** Lines are encoded into this buffer as they come (allocated at the first line of a batch). */
  #buffer: Buffer | undefined
  #used = 0
  #timer: NodeJS.Timeout | undefined

  /** `target`: a file descriptor (default stdout) or a file path (appended to). */
  constructor(target: number | string = 1, options: { maxBytes?: number; maxDelayMs?: number } = {}) {
    // sonic-boom in buffer mode (its types only know strings): writes synchronously, retries a full pipe
    this.#out = pino.destination({ dest: target, sync: true, contentMode: 'buffer' }) as unknown as {
      write(chunk: Buffer): boolean
    }
    this.#maxBytes = options.maxBytes ?? LOG_BUFFER_BYTES
    this.#maxDelayMs = options.maxDelayMs ?? LOG_BUFFER_MS
    if (!exitHookInstalled) {
      exitHookInstalled = true
      process.on('exit', flushAllOnExit)
    }
  }

  write(line: string): boolean {
    // A batch stays within maxBytes (4 KiB: one atomic write to a pipe). A UTF-16 code unit takes
    // at most 3 bytes in UTF-8, so the exact size is only counted near the limit.
    const max = this.#maxBytes
    if (this.#used + line.length * 3 > max) {
      const bytes = Buffer.byteLength(line)
      if (this.#used + bytes > max) this.flushSync()
      if (bytes > max) {
        this.#out.write(Buffer.from(line)) // a line longer than a batch goes out on its own
        return true
      }
    }
    this.#buffer ??= Buffer.allocUnsafe(max)
    this.#used += this.#buffer.write(line, this.#used)
    if (this.lastLevel >= WRITE_AT_ONCE_LEVEL) this.flushSync()
    else if (this.#timer === undefined) {
      pending.add(this)
      this.#timer = setTimeout(() => this.flushSync(), this.#maxDelayMs)
      this.#timer.unref()
    }
    return true
  }

  /** Writes every waiting line now (synchronously). */
  flushSync(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    pending.delete(this)
    if (this.#buffer === undefined || this.#used === 0) return
    // the batch is the writer's now: later lines go to a new buffer
    const batch = this.#buffer.subarray(0, this.#used)
    this.#buffer = undefined
    this.#used = 0
    this.#out.write(batch)
  }

  /** pino's `logger.flush(cb)`: the waiting lines are written before `cb` runs. */
  flush(cb?: (err?: Error) => void): void {
    try {
      this.flushSync()
    } catch (err) {
      cb?.(err as Error)
      return
    }
    cb?.()
  }
}

export interface LoggerInit {
  level: string
  /** Defaults to stdout through a {@link BufferedDestination}. */
  destination?: DestinationStream
  name?: string
}

/** Loggers made by {@link createLogger}: their children inherit from them (prototype chain). */
const roots = new WeakSet<object>()

/** The node's structured logger (pino, JSON lines) with secret redaction. */
export function createLogger(init: LoggerInit): Logger {
  const logger = pino(
    {
      name: init.name ?? 'prsm',
      level: init.level,
      formatters: { log: (object) => redactSecrets(object) },
      // top-level secret fields of child bindings too (pino applies serializers to both)
      serializers: Object.fromEntries([...SECRET_FIELDS].map((field) => [field, () => CENSOR])),
      base: { pid: process.pid },
    },
    init.destination ?? new BufferedDestination(1),
  )
  roots.add(logger)
  return logger
}

/** One API request as the access log records it: never headers, query strings or bodies. */
export interface AccessEntry {
  reqId: string
  method: string
  /** The route pattern (`/api/v1/content/:cid`), null when no route matched. */
  route: string | null
  status: number
  ms: number
  /** The caller's key id and role (absent for public routes). */
  key: string | undefined
  role: string | undefined
}

/** Writes one access line; `direct` tells whether lines are built directly (else `logger.info`). */
export type AccessLogWriter = ((entry: AccessEntry) => void) & { readonly direct: boolean }

/** pino's symbols the fast line reads (all in `pino.symbols`; a pino without one gets `logger.info`). */
const SYMBOLS = pino.symbols as unknown as Record<string, symbol | undefined>
const sym = (name: string): symbol => SYMBOLS[name] as symbol
const LINE_SYMBOLS = [
  'lsCacheSym',
  'timeSym',
  'timeSliceIndexSym',
  'chindingsSym',
  'streamSym',
  'messageKeySym',
  'endSym',
  'needsMetadataGsym',
  'formattersSym',
  'serializersSym',
  'stringifiersSym',
  'mixinSym',
  'hooksSym',
  'msgPrefixSym',
  'nestedKeySym',
]
/** What a child logger may override: the fast line is only written while none of these differ from the root's. */
const SHAPE_SYMBOLS = [
  'serializersSym',
  'stringifiersSym',
  'mixinSym',
  'hooksSym',
  'msgPrefixSym',
  'messageKeySym',
  'nestedKeySym',
  'endSym',
  'timeSym',
]

function rootOf(logger: Logger): Logger | undefined {
  for (let o: object | null = logger; o !== null; o = Object.getPrototypeOf(o)) {
    if (roots.has(o)) return o as Logger
  }
  return undefined
}

const str = JSON.stringify

/** A JSON string literal: a value with nothing to escape (the usual case) is only quoted. */
function quote(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    // control characters, quote, backslash and surrogates are left to JSON.stringify
    if (c < 32 || c === 34 || c === 92 || (c >= 0xd800 && c <= 0xdfff)) return str(s)
  }
  return `"${s}"`
}

/**
 * Writes info-level `msg` lines for {@link AccessEntry} objects through `logger`. For a logger from
 * {@link createLogger} (or a child that changes only bindings and level) the line is built directly
 * from its fixed fields: they hold no secret, so the redaction walk and pino's generic serialisation
 * would not change them. The line is the one `logger.info(entry, msg)` writes (same level, time,
 * bindings, fields and message; the logger test compares them). Any other logger gets `logger.info`.
 */
export function accessLogWriter(logger: Logger, msg: string): AccessLogWriter {
  const root = rootOf(logger)
  const generic = Object.assign((entry: AccessEntry): void => logger.info(entry, msg), { direct: false })
  if (root === undefined || LINE_SYMBOLS.some((name) => SYMBOLS[name] === undefined)) return generic
  const l = logger as unknown as Record<symbol, unknown>
  const r = root as unknown as Record<symbol, unknown>
  if (SHAPE_SYMBOLS.some((name) => l[sym(name)] !== r[sym(name)])) return generic
  // a child gets its own formatters object: what counts are the level and log formatters in it
  const formatters = (o: Record<symbol, unknown>) => o[sym('formattersSym')] as Record<string, unknown>
  if (['level', 'log'].some((f) => formatters(l)[f] !== formatters(r)[f])) return generic
  const hooks = l[sym('hooksSym')] as { streamWrite?: unknown; logMethod?: unknown } | undefined
  if (l[sym('mixinSym')] || l[sym('nestedKeySym')] || l[sym('msgPrefixSym')]) return generic
  if (hooks?.streamWrite !== undefined || hooks?.logMethod !== undefined) return generic
  const msgPart = `,${str(l[sym('messageKeySym')])}:${str(msg)}${l[sym('endSym')]}`
  const level = logger.levels.values.info as number
  // fixed for the logger's lifetime: the level prefix, the time function, the stream
  const prefix = (l[sym('lsCacheSym')] as Record<number, string>)[level] as string
  const timeOf = l[sym('timeSym')] as () => string
  const timeSlice = l[sym('timeSliceIndexSym')] as number
  const stream = l[sym('streamSym')] as DestinationStream & Partial<LineMetadata> & Record<symbol, unknown>
  const metadata = stream[sym('needsMetadataGsym')] === true
  // a BufferedDestination reads only the level (error lines are written at once)
  const levelOnly = stream instanceof BufferedDestination
  const chindings = sym('chindingsSym') // setBindings() may change them: read per line
  const direct = (entry: AccessEntry): void => {
    if (!logger.isLevelEnabled('info')) return
    const time = timeOf.call(logger)
    const line =
      prefix +
      time +
      (l[chindings] as string) +
      ',"reqId":' +
      quote(entry.reqId) +
      ',"method":' +
      quote(entry.method) +
      ',"route":' +
      (entry.route === null ? 'null' : quote(entry.route)) +
      ',"status":' +
      entry.status +
      ',"ms":' +
      entry.ms +
      (entry.key === undefined ? '' : `,"key":${quote(entry.key)}`) +
      (entry.role === undefined ? '' : `,"role":${quote(entry.role)}`) +
      msgPart
    if (metadata) {
      stream.lastLevel = level
      if (!levelOnly) {
        stream.lastObj = entry
        stream.lastMsg = msg
        stream.lastTime = time.slice(timeSlice)
        stream.lastLogger = logger
      }
    }
    stream.write(line)
  }
  return Object.assign(direct, { direct: true })
}
