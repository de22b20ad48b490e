import type { Logger } from 'pino'

/**
 * For the processes that host a node (the daemon, the demo, benchmarks): a stray promise
 * rejection inside a networking library must not take the node down. Aborted operations
 * (libp2p's DHT queries abort their paths when a caller's time runs out, and some of those
 * rejections are left unhandled upstream) are logged at debug; anything else at error. Libraries
 * never install these handlers; only an application entry point does.
 */
export function installProcessGuards(logger: Pick<Logger, 'debug' | 'error'>): () => void {
  const onRejection = (reason: unknown): void => {
    const name = (reason as { name?: string } | undefined)?.name
    if (name === 'AbortError' || name === 'TimeoutError') {
      logger.debug({ err: (reason as Error).message }, 'aborted operation rejected without a handler')
    } else {
      logger.error({ err: reason }, 'unhandled promise rejection')
    }
  }
  process.on('unhandledRejection', onRejection)
  return () => process.off('unhandledRejection', onRejection)
}
