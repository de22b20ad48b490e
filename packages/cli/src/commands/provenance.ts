import type { Command } from 'commander'
import { callNode } from '../client.ts'
import { resolveDataDir } from '../data-dir.ts'
import { printJson } from '../output.ts'

/** `prsm provenance CID|NAME[@VERSION]`: ancestors and descendants of a manifest. */
export function registerProvenanceCommand(program: Command): void {
  program
    .command('provenance')
    .argument('<ref>', 'manifest CID, NAME@VERSION or NAME')
    .description('ancestors and descendants of a manifest (tree, or --json nodes and edges)')
    .option('--depth <n>', 'generations each way (default 32)')
    .option('--data-dir <dir>', 'data directory (default: $PRSM_DATA_DIR or ~/.prsm)')
    .option('--json', 'print JSON')
    .action(async (ref: string, flags: { dataDir?: string; json?: boolean; depth?: string }) => {
      const query = flags.depth === undefined ? '' : `?depth=${encodeURIComponent(flags.depth)}`
      const graph = await callNode<Record<string, unknown>>(
        resolveDataDir(flags.dataDir),
        `/api/v1/provenance/${encodeURIComponent(ref)}${query}`,
        { signal: AbortSignal.timeout(120_000) },
      )
      if (flags.json === true) return printJson(graph)
      const { provenanceText } = await import('@prsm/node')
      process.stdout.write(`${provenanceText(graph as never)}\n`)
    })
}
