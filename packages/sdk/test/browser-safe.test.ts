import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { after, before, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createContext, runInContext } from 'node:vm'
import { type PrsmNode, readRuntimeFile } from '@prsm/node'
import ts from 'typescript'
import { startTestNode, stopAll } from '../../node/test/helpers.ts'

const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url))

/**
 * The SDK as it ships: every module the root entry loads at run time, compiled to JavaScript
 * (type-only imports vanish), as CommonJS so the modules can be linked inside a vm context.
 */
async function build(): Promise<Map<string, { code: string; imports: string[] }>> {
  const modules = new Map<string, { code: string; imports: string[] }>()
  const queue = [entry]
  while (queue.length > 0) {
    const file = queue.pop() as string
    if (modules.has(file)) continue
    const out = ts.transpileModule(await readFile(file, 'utf8'), {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: false,
        rewriteRelativeImportExtensions: false,
      },
    }).outputText
    const imports = [...out.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1] as string)
    modules.set(file, { code: out, imports })
    for (const s of imports) if (s.startsWith('.')) queue.push(resolve(dirname(file), s))
  }
  return modules
}

let node: PrsmNode
before(async () => {
  node = await startTestNode({ api: true })
})
after(() => stopAll([node]))

it('the built root entry imports only its own modules: no node: built-ins, no packages', async () => {
  const modules = await build()
  assert.ok(modules.size >= 4, `built ${modules.size} modules`)
  for (const [file, { imports }] of modules) {
    for (const s of imports) assert.ok(s.startsWith('./') || s.startsWith('../'), `${file} imports ${s}`)
  }
})

it('runs against a real node in a context that has only web platform globals (no process, Buffer, require)', async () => {
  const modules = await build()
  const web = {
    fetch,
    Request,
    Response,
    Headers,
    ReadableStream,
    TextDecoder,
    TextEncoder,
    AbortController,
    AbortSignal,
    DOMException,
    URL,
    URLSearchParams,
    Blob,
    crypto: globalThis.crypto,
    setTimeout,
    clearTimeout,
  }
  const context = createContext({ ...web })
  assert.equal(
    runInContext('typeof process + typeof Buffer + typeof require', context),
    'undefinedundefinedundefined',
  )
  const loaded = new Map<string, unknown>()
  const load = (file: string): unknown => {
    const cached = loaded.get(file)
    if (cached !== undefined) return cached
    const mod = modules.get(file)
    if (mod === undefined) throw new Error(`not part of the build: ${file}`)
    const exports = {}
    loaded.set(file, exports)
    const fn = runInContext(`(function (exports, require) {${mod.code}\n})`, context, { filename: file })
    fn(exports, (s: string) => load(resolve(dirname(file), s)))
    return exports
  }
  const sdk = load(entry) as typeof import('../src/index.ts')
  const { apiUrl, token } = await readRuntimeFile(node.dataDir)
  const status = await new sdk.PrsmClient({ baseUrl: apiUrl, token }).get('/api/v1/node/status')
  assert.equal(status.peerId, node.peerId)
  await assert.rejects(
    new sdk.PrsmClient({ baseUrl: apiUrl, token: 'nope', retries: 0 }).get('/api/v1/node/status'),
    (err) => sdk.isPrsmApiError(err, 'UNAUTHORIZED'),
  )
})
