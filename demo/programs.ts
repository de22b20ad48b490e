/**
 * The main job's compute:js programs (demo/programs/*.js), stored as content and published as
 * signed tool manifests so workflows name them (`prsm-demo/co2-trend`) rather than by CID.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { PrsmNode } from '@prsm/node'
import { toStream } from './datasets.ts'

export const PROGRAMS = [
  { name: 'prsm-demo/co2-trend', file: 'co2-trend.js', description: 'CO2 trend (ppm/decade) of one period' },
  {
    name: 'prsm-demo/temperature-trend',
    file: 'temperature-trend.js',
    description: 'Temperature anomaly trend (°C/decade) of one period',
  },
  {
    name: 'prsm-demo/co2-yearly-notes',
    file: 'co2-yearly-notes.js',
    description: 'One line of notes per year of the CO2 series (a long text for the compile step)',
  },
  {
    name: 'prsm-demo/co2-temperature-correlation',
    file: 'co2-temperature-correlation.js',
    description: "Pearson's r between yearly mean CO2 and the temperature anomaly",
  },
] as const
export const PROGRAM_VERSION = '1.0.0'

export interface PublishedProgram {
  name: string
  cid: string
  fileCid: string
}

export async function publishPrograms(
  node: PrsmNode,
  options: { signal?: AbortSignal } = {},
): Promise<PublishedProgram[]> {
  const out: PublishedProgram[] = []
  for (const p of PROGRAMS) {
    const bytes = readFileSync(join(import.meta.dirname, 'programs', p.file))
    const added = await node.storage.add(
      toStream(bytes),
      options.signal === undefined ? {} : { signal: options.signal },
    )
    const published = await node.manifests.publish({
      kind: 'tool',
      name: p.name,
      version: PROGRAM_VERSION,
      files: [{ path: p.file, cid: added.cid, size: added.size }],
      license: 'MIT',
      description: `compute:js program: ${p.description}. Part of the PRSM main job (demo/programs/${p.file}).`,
    })
    out.push({ name: p.name, cid: published.cid, fileCid: added.cid })
  }
  return out
}
