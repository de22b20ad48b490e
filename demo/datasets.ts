/**
 * The real datasets of the main job: two series shipped inside the npm package `vega-datasets`
 * (pinned in the root package.json), published as signed dataset manifests with their original
 * sources and licences.
 */
import { createReadStream, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { PrsmNode } from '@prsm/node'

export interface DatasetSpec {
  /** Manifest name. */
  name: string
  /** The file inside vega-datasets/data. */
  file: string
  license: string
  /** Where the data originally comes from (institution, page). */
  source: string
  description: string
}

export const DATASETS: readonly DatasetSpec[] = [
  {
    name: 'scripps/mauna-loa-co2-monthly',
    file: 'co2-concentration.csv',
    license: 'CC-BY-4.0',
    source:
      'Scripps CO2 Program, UC San Diego (Mauna Loa Observatory, Hawaii; in situ CO2, monthly): https://scrippsco2.ucsd.edu/data/atmospheric_co2/primary_mlo_co2_record',
    description:
      'Monthly atmospheric CO2 at Mauna Loa, 1958-2020, in ppm (2012 SIO manometric scale), with a seasonally adjusted column. Columns: Date,CO2,adjusted CO2.',
  },
  {
    name: 'nasa-giss/gistemp-global-annual',
    file: 'global-temp.csv',
    license: 'U.S. Government work (public domain): https://www.usa.gov/government-works',
    source:
      'NASA Goddard Institute for Space Studies, GISTEMP Land-Ocean Temperature Index: https://data.giss.nasa.gov/gistemp/',
    description:
      'Global land-ocean surface temperature anomaly, yearly, 1880-2023, in °C against the 1951-1980 mean. Columns: year,temp.',
  },
]

/** The folder of vega-datasets' data files, and the package version (recorded in every manifest). */
export function vegaDatasets(): { dir: string; version: string } {
  // The package exports only its JS entry (build/index.js); its data/ folder sits beside build/.
  const entry = createRequire(import.meta.url).resolve('vega-datasets')
  const root = dirname(dirname(entry))
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
  return { dir: join(root, 'data'), version }
}

export interface PublishedDataset {
  spec: DatasetSpec
  /** `name@version`, as workflows refer to it. */
  ref: string
  cid: string
  fileCid: string
  bytes: number
  creator: string
}

/** Adds each data file and a SOURCE.md to `node`'s storage and publishes a signed dataset manifest. */
export async function publishDatasets(
  node: PrsmNode,
  options: { royaltyBps: number; signal?: AbortSignal },
): Promise<PublishedDataset[]> {
  const { dir, version } = vegaDatasets()
  const out: PublishedDataset[] = []
  for (const spec of DATASETS) {
    const signal = options.signal === undefined ? {} : { signal: options.signal }
    const data = await node.storage.add(createReadStream(join(dir, spec.file)), signal)
    const sourceText = [
      `# ${spec.name}`,
      '',
      spec.description,
      '',
      `Source: ${spec.source}`,
      `Licence: ${spec.license}`,
      `Distributed in: the npm package vega-datasets@${version} (data/${spec.file})`,
      '',
    ].join('\n')
    const source = await node.storage.add(toStream(new TextEncoder().encode(sourceText)), signal)
    const published = await node.manifests.publish({
      kind: 'dataset',
      name: spec.name,
      version: `vega-datasets-${version}`,
      files: [
        { path: spec.file, cid: data.cid, size: data.size },
        { path: 'SOURCE.md', cid: source.cid, size: source.size },
      ],
      royaltyBps: options.royaltyBps,
      license: spec.license,
      description: `${spec.description} Source: ${spec.source}. Via vega-datasets@${version}.`,
    })
    out.push({
      spec,
      ref: `${spec.name}@vega-datasets-${version}`,
      cid: published.cid,
      fileCid: data.cid,
      bytes: data.size,
      creator: published.manifest.creator,
    })
  }
  return out
}

export async function* toStream(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes
}
