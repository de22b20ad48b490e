import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { it } from 'node:test'
import { fileURLToPath } from 'node:url'

const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url))

/** Every module the SDK's root entry loads, following relative imports and re-exports. */
async function importGraph(): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>()
  const queue = [entry]
  while (queue.length > 0) {
    const file = queue.pop() as string
    if (graph.has(file)) continue
    const text = await readFile(file, 'utf8')
    const specifiers = [
      ...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/g),
      ...text.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g),
      ...text.matchAll(/\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g),
    ].map((m) => m[1] as string)
    graph.set(file, specifiers)
    for (const s of specifiers) if (s.startsWith('.')) queue.push(resolve(dirname(file), s))
  }
  return graph
}

it('the root entry imports only its own modules: no node: built-ins, no packages, no Node globals', async () => {
  const graph = await importGraph()
  assert.ok(graph.size >= 4, `walked ${graph.size} modules`)
  for (const [file, specifiers] of graph) {
    for (const s of specifiers) {
      assert.ok(s.startsWith('./') || s.startsWith('../'), `${file} imports ${s}`)
    }
    const code = (await readFile(file, 'utf8')).replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')
    for (const nodeOnly of [
      /\bprocess\./,
      /\bBuffer\b/,
      /\brequire\(/,
      /\b__dirname\b/,
      /\bsetImmediate\b/,
    ]) {
      assert.doesNotMatch(code, nodeOnly, `${file} uses ${nodeOnly}`)
    }
  }
})
