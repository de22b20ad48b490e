import type { Command } from 'commander'
import { callNode } from '../client.ts'
import { resolveDataDir } from '../data-dir.ts'
import { followRun } from './workflow.ts'

interface Flags {
  budget?: string
  stream?: boolean
  dataDir?: string
  json?: boolean
}

/**
 * `prsm query "…" [--budget FTNS] [--stream]`: a model on the network plans a workflow for the
 * question and the node runs it. Without any model the node answers PLANNER_NO_MODEL, naming the
 * backends it could use (and `prsm workflow run FILE` still works).
 */
export function registerQueryCommand(program: Command): void {
  program
    .command('query <text>')
    .description('ask the network a question: planned into a workflow by a model, run, paid and traced')
    .option('--budget <ftns>', 'the most the whole query may spend, in FTNS')
    .option('--stream', 'print the output of streamed steps as it arrives')
    .option('--data-dir <dir>', 'data directory (default: $PRSM_DATA_DIR or ~/.prsm)')
    .option('--json', 'print the result as JSON')
    .action(async (text: string, flags: Flags) => {
      const dataDir = resolveDataDir(flags.dataDir)
      const run = await callNode<{ runId: string }>(dataDir, '/api/v1/queries', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          query: text,
          ...(flags.budget === undefined ? {} : { budget: flags.budget }),
        }),
        // planning asks a model, possibly more than once
        signal: AbortSignal.timeout(600_000),
      })
      await followRun(dataDir, run.runId, flags)
    })
}
