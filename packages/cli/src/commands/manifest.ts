import type { Command } from 'commander'
import { callNode } from '../client.ts'
import { resolveDataDir } from '../data-dir.ts'
import { printJson } from '../output.ts'

interface Flags {
  dataDir?: string
  json?: boolean
}

interface Stored {
  cid: string
  manifest: {
    kind: string
    name: string
    version: string
    creator: string
    royaltyBps: number
    license: string
    parents: string[]
    files: Array<{ path: string; cid: string; size: number }>
    created: number
  }
}

function show(s: Stored): string {
  const m = s.manifest
  return [
    `cid        ${s.cid}`,
    `${m.kind.padEnd(10)} ${m.name}@${m.version}`,
    `creator    ${m.creator}`,
    `royalty    ${m.royaltyBps / 100}%`,
    `license    ${m.license || '-'}`,
    `created    ${new Date(m.created).toISOString()}`,
    ...m.files.map((f) => `file       ${f.path}  ${f.cid}  ${f.size} bytes`),
    ...m.parents.map((p) => `parent     ${p}`),
    '',
  ].join('\n')
}

/** `prsm manifest publish FILE.json`, `prsm manifest show CID|NAME[@VERSION]`. */
export function registerManifestCommands(program: Command): void {
  const manifest = program.command('manifest').description('signed manifests of models, datasets and tools')
  manifest
    .command('publish')
    .argument('<file>', 'manifest JSON: {kind, name, version, files: [{path, cid}], royaltyBps, license, …}')
    .description("sign with this node's wallet and publish (gossip + DHT)")
    .option('--data-dir <dir>', 'data directory (default: $PRSM_DATA_DIR or ~/.prsm)')
    .option('--json', 'print JSON')
    .action(async (file: string, flags: Flags) => {
      const { readFile } = await import('node:fs/promises')
      const { PrsmError } = await import('@prsm/core')
      let body: unknown
      try {
        body = JSON.parse(await readFile(file, 'utf8'))
      } catch (err) {
        throw new PrsmError('VALIDATION_FAILED', `${file}: ${(err as Error).message}`)
      }
      const stored = await callNode<Stored>(resolveDataDir(flags.dataDir), '/api/v1/manifests', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(120_000),
      })
      if (flags.json === true) printJson(stored)
      else process.stdout.write(`${stored.cid}\n`)
    })
  manifest
    .command('show')
    .argument('<ref>', 'CID, NAME@VERSION or NAME (latest by the same creator)')
    .description('show a verified manifest')
    .option('--data-dir <dir>', 'data directory (default: $PRSM_DATA_DIR or ~/.prsm)')
    .option('--json', 'print JSON')
    .action(async (ref: string, flags: Flags) => {
      const stored = await callNode<Stored>(
        resolveDataDir(flags.dataDir),
        `/api/v1/manifest?ref=${encodeURIComponent(ref)}`,
      )
      if (flags.json === true) printJson(stored)
      else process.stdout.write(show(stored))
    })
}
