import type { Manifest } from './manifest.ts'

export interface ProvenanceNode {
  cid: string
  kind: Manifest['kind']
  name: string
  version: string
  creator: string
  created: number
  /** Generations from the root: negative for ancestors, positive for descendants, 0 for the root. */
  depth: number
}

/** An edge from a manifest to one of its parents. */
export interface ProvenanceEdge {
  child: string
  parent: string
}

export interface ProvenanceGraph {
  root: string
  nodes: ProvenanceNode[]
  edges: ProvenanceEdge[]
  /** Parents named by a manifest that could not be fetched or did not verify. */
  missing: string[]
}

export interface ProvenanceComponents {
  /** A verified manifest by CID (fetched from the network if needed), or undefined. */
  get(cid: string): Promise<Manifest | undefined>
  /** CIDs of known verified manifests that name `cid` as a parent. */
  children(cid: string): string[]
}

/**
 * Walks the lineage of a manifest: ancestors through `parents` (breadth first, fetching as
 * needed) and descendants through the index of verified manifests, up to `maxDepth` generations
 * each way.
 */
export async function provenance(
  c: ProvenanceComponents,
  root: string,
  options: { maxDepth?: number } = {},
): Promise<ProvenanceGraph> {
  const maxDepth = options.maxDepth ?? 32
  const nodes = new Map<string, ProvenanceNode>()
  const edges = new Map<string, ProvenanceEdge>()
  const missing = new Set<string>()
  const add = (cid: string, m: Manifest, depth: number): void => {
    if (nodes.has(cid)) return
    nodes.set(cid, {
      cid,
      kind: m.kind,
      name: m.name,
      version: m.version,
      creator: m.creator,
      created: m.created,
      depth,
    })
  }
  const rootManifest = await c.get(root)
  if (rootManifest === undefined) return { root, nodes: [], edges: [], missing: [root] }
  add(root, rootManifest, 0)

  let frontier: Array<[string, Manifest]> = [[root, rootManifest]]
  for (let depth = 1; depth <= maxDepth && frontier.length > 0; depth++) {
    const next: Array<[string, Manifest]> = []
    for (const [cid, m] of frontier) {
      for (const parent of m.parents) {
        edges.set(`${cid}>${parent}`, { child: cid, parent })
        if (nodes.has(parent) || missing.has(parent)) continue
        const pm = await c.get(parent)
        if (pm === undefined) {
          missing.add(parent)
          continue
        }
        add(parent, pm, -depth)
        next.push([parent, pm])
      }
    }
    frontier = next
  }

  let down = [root]
  for (let depth = 1; depth <= maxDepth && down.length > 0; depth++) {
    const next: string[] = []
    for (const cid of down) {
      for (const child of c.children(cid)) {
        edges.set(`${child}>${cid}`, { child, parent: cid })
        if (nodes.has(child)) continue
        const cm = await c.get(child)
        if (cm === undefined) continue
        add(child, cm, depth)
        next.push(child)
      }
    }
    down = next
  }
  return {
    root,
    nodes: [...nodes.values()].sort((a, b) => a.depth - b.depth || a.created - b.created),
    edges: [...edges.values()].filter(
      (e) => nodes.has(e.child) && (nodes.has(e.parent) || missing.has(e.parent)),
    ),
    missing: [...missing],
  }
}

/** The graph as indented tree text: ancestors above the root, descendants below. */
export function provenanceText(graph: ProvenanceGraph): string {
  const byCid = new Map(graph.nodes.map((n) => [n.cid, n]))
  const label = (cid: string): string => {
    const n = byCid.get(cid)
    return n === undefined ? `${cid} (missing)` : `${n.kind} ${n.name}@${n.version}  ${cid}`
  }
  const lines: string[] = []
  const walk = (cid: string, indent: string, dir: 'up' | 'down', seen: Set<string>): void => {
    const next =
      dir === 'up'
        ? graph.edges.filter((e) => e.child === cid).map((e) => e.parent)
        : graph.edges.filter((e) => e.parent === cid).map((e) => e.child)
    next.forEach((n, i) => {
      const last = i === next.length - 1
      lines.push(`${indent}${last ? '└── ' : '├── '}${label(n)}`)
      if (!seen.has(n)) walk(n, `${indent}${last ? '    ' : '│   '}`, dir, new Set([...seen, n]))
    })
  }
  lines.push(label(graph.root))
  lines.push('ancestors')
  walk(graph.root, '  ', 'up', new Set([graph.root]))
  lines.push('descendants')
  walk(graph.root, '  ', 'down', new Set([graph.root]))
  return lines.join('\n')
}
