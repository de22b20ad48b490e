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

export interface LoggerInit {
  level: string
  /** Defaults to stdout. */
  destination?: DestinationStream
  name?: string
}

/** The node's structured logger (pino, JSON lines) with secret redaction. */
export function createLogger(init: LoggerInit): Logger {
  return pino(
    {
      name: init.name ?? 'prsm',
      level: init.level,
      formatters: { log: (object) => redactSecrets(object) },
      // top-level secret fields of child bindings too (pino applies serializers to both)
      serializers: Object.fromEntries([...SECRET_FIELDS].map((field) => [field, () => CENSOR])),
      base: { pid: process.pid },
    },
    init.destination ?? pino.destination(1),
  )
}
