import { type Logger, pino } from 'pino'

/** Paths that must never reach a log line, whatever object they appear in. */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'privateKey',
  '*.privateKey',
  'nodeKey',
  '*.nodeKey',
  'walletKey',
  '*.walletKey',
  'token',
  '*.token',
  'apiKey',
  '*.apiKey',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
]

export interface LoggerInit {
  level: string
  /** Defaults to stdout. */
  destination?: NodeJS.WritableStream
  name?: string
}

/** The node's structured logger (pino, JSON lines) with secret redaction. */
export function createLogger(init: LoggerInit): Logger {
  return pino(
    {
      name: init.name ?? 'prsm',
      level: init.level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
    },
    init.destination ?? pino.destination(1),
  )
}
