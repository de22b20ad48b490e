/**
 * V8 flags a long-running node (`prsm node start`) runs with (measurements in docs/storage.md).
 *
 * `--max-semi-space-size=4`: V8 lets the young generation grow to 64 MB semi-spaces (~67 MB
 * resident once grown, which loading the node's modules alone does). A node moving content
 * allocates its buffers faster than it allocates objects, so a big young generation is collected
 * rarely and dead 1 MiB and 64 KiB buffers pile up until external-memory pressure forces full
 * collections of the whole heap. With 4 MB semi-spaces an idle node is ~60 MB smaller and
 * scavenges free most transfer buffers.
 *
 * `--heap-growing-percent=100`: the old generation may grow to twice its live size before the
 * next full collection (V8 chose ~1.3–1.5× here). Objects of blocks in flight get promoted and die
 * soon after; with the tighter limit a node serving content ran a full collection of its ~50 MB
 * heap every ~100 ms. Serving 1 GiB: ~5 s → ~3.7 s of CPU, peak RSS unchanged (~270 MB).
 */
export const NODE_START_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--heap-growing-percent=100']

/** True when `args` (the CLI's arguments) run `prsm node start`. */
export function isNodeStart(args: readonly string[]): boolean {
  const i = args.indexOf('node')
  return i >= 0 && args[i + 1] === 'start'
}

/**
 * The arguments to re-execute this process with for `prsm node start` (`argv` as in
 * `process.argv`), or `undefined` when it is not a node start or every flag of
 * {@link NODE_START_FLAGS} is already set, with any value, in `execArgv` or `nodeOptions`.
 */
export function nodeStartArgv(
  argv: readonly string[],
  execArgv: readonly string[],
  nodeOptions = '',
): string[] | undefined {
  if (!isNodeStart(argv.slice(2))) return undefined
  const name = (flag: string): string => flag.split('=')[0] as string
  const set = new Set([...execArgv, ...nodeOptions.split(/\s+/)].map(name))
  const missing = NODE_START_FLAGS.filter((f) => !set.has(name(f)))
  if (missing.length === 0) return undefined
  return [argv[0] as string, ...missing, ...execArgv, ...argv.slice(1)]
}

/**
 * For `prsm node start`, replaces this process (same pid, same stdio) with one running
 * {@link NODE_START_FLAGS}, unless those flags are already set (on the command line or in
 * NODE_OPTIONS) or the platform has no `execve`. Must run before the CLI's modules load.
 */
export function execWithNodeStartFlags(): void {
  if (typeof process.execve !== 'function') return
  const args = nodeStartArgv(process.argv, process.execArgv, process.env.NODE_OPTIONS)
  if (args !== undefined) process.execve(process.execPath, args)
}
