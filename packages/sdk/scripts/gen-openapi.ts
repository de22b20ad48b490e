/**
 * Generates packages/sdk/src/generated/openapi.ts: the TypeScript types of every operation in a
 * node's /openapi.json (path parameters, query, body, answer) and the error codes of the catalogue.
 * `node packages/sdk/scripts/gen-openapi.ts` starts a throwaway node, reads its document and writes
 * the file; `--check` exits 1 when the file is out of date (the SDK's drift test does the same).
 */
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { ERROR_CATALOGUE } from '@prsm/core'
import { readRuntimeFile } from '@prsm/node'
import { startTestNode, stopAll } from '../../node/test/helpers.ts'

export const GENERATED_PATH = fileURLToPath(new URL('../src/generated/openapi.ts', import.meta.url))

type Schema = Record<string, unknown>
type Doc = {
  paths: Record<string, Record<string, Schema>>
  components?: { schemas?: Record<string, Schema> }
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/
const METHODS = ['get', 'post', 'put', 'patch', 'delete']

function key(name: string): string {
  return IDENT.test(name) ? name : JSON.stringify(name)
}

function comment(text: unknown, pad: string): string {
  if (typeof text !== 'string' || text === '') return ''
  return `${pad}/** ${text.replace(/\*\//g, '*\\/').replace(/\s*\n\s*/g, ' ')} */\n`
}

/** The `$defs` of the schema being converted and the ones being expanded (recursion becomes `unknown`). */
let defs: Record<string, Schema> = {}
const expanding = new Set<string>()

/** A JSON Schema (2020-12, as zod emits it) as a TypeScript type. */
export function tsType(schema: unknown, pad = ''): string {
  if (schema === true || schema === undefined) return 'unknown'
  if (schema === false) return 'never'
  const s = schema as Schema
  if (s.$defs !== undefined) {
    const outer = defs
    defs = { ...defs, ...(s.$defs as Record<string, Schema>) }
    const { $defs: _, ...rest } = s
    const out = tsType(rest, pad)
    defs = outer
    return out
  }
  if (typeof s.$ref === 'string') {
    const component = /^#\/components\/schemas\/([A-Za-z0-9_]+)$/.exec(s.$ref)
    if (component) return `Wire${component[1]}`
    const local = /^#\/\$defs\/(.+)$/.exec(s.$ref)?.[1]
    const def = local === undefined ? undefined : defs[local]
    if (local === undefined || def === undefined || expanding.has(local)) return 'unknown'
    expanding.add(local)
    const out = tsType(def, pad)
    expanding.delete(local)
    return out
  }
  if ('const' in s) return JSON.stringify(s.const)
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v)).join(' | ')
  const union = (s.anyOf ?? s.oneOf) as unknown[] | undefined
  if (Array.isArray(union)) return `(${union.map((u) => tsType(u, pad)).join(' | ')})`
  if (Array.isArray(s.allOf)) return `(${s.allOf.map((u) => tsType(u, pad)).join(' & ')})`
  const types = Array.isArray(s.type) ? (s.type as string[]) : typeof s.type === 'string' ? [s.type] : []
  if (types.length === 0) return s.properties === undefined ? 'unknown' : tsObject(s, pad)
  const parts = types.map((t) => {
    switch (t) {
      case 'string':
        return 'string'
      case 'number':
      case 'integer':
        return 'number'
      case 'boolean':
        return 'boolean'
      case 'null':
        return 'null'
      case 'array': {
        if (Array.isArray(s.prefixItems)) return `[${s.prefixItems.map((i) => tsType(i, pad)).join(', ')}]`
        const item = tsType(s.items, pad)
        return /^[A-Za-z0-9_]+$/.test(item) ? `${item}[]` : `Array<${item}>`
      }
      case 'object':
        return tsObject(s, pad)
      default:
        return 'unknown'
    }
  })
  return parts.length === 1 ? (parts[0] as string) : parts.join(' | ')
}

function tsObject(s: Schema, pad: string): string {
  const props = (s.properties ?? {}) as Record<string, Schema>
  const required = new Set((s.required ?? []) as string[])
  const extra = s.additionalProperties
  const inner = `${pad}  `
  const lines = Object.entries(props).map(
    ([name, p]) =>
      `${comment(p.description, inner)}${inner}${key(name)}${required.has(name) ? '' : '?'}: ${tsType(p, inner)}`,
  )
  if (lines.length === 0) {
    if (extra === false) return 'Record<string, never>'
    return `Record<string, ${extra === undefined || extra === true ? 'unknown' : tsType(extra, pad)}>`
  }
  if (extra !== undefined && extra !== false) lines.push(`${inner}[key: string]: unknown`)
  return `{\n${lines.join('\n')}\n${pad}}`
}

function paramsType(op: Schema, where: 'path' | 'query', pad: string): string {
  const params = ((op.parameters ?? []) as Schema[]).filter((p) => p.in === where)
  if (params.length === 0) return 'Record<string, never>'
  const inner = `${pad}  `
  const lines = params.map(
    (p) => `${inner}${key(p.name as string)}${p.required ? '' : '?'}: ${tsType(p.schema, inner)}`,
  )
  return `{\n${lines.join('\n')}\n${pad}}`
}

/** The content type and schema of an operation's first 2xx answer. */
function success(op: Schema): { status: number; contentType: string; schema: unknown } {
  const responses = op.responses as Record<string, Schema>
  const status = Object.keys(responses)
    .map(Number)
    .filter((n) => n >= 200 && n < 300)
    .sort((a, b) => a - b)[0]
  if (status === undefined) return { status: 200, contentType: 'application/json', schema: undefined }
  const content = (responses[String(status)]?.content ?? {}) as Record<string, Schema>
  const [contentType, media] = Object.entries(content)[0] ?? ['application/json', {}]
  return { status, contentType, schema: media.schema }
}

/** The generated module for an OpenAPI document. */
export function generate(doc: Doc): string {
  const out: string[] = [
    "// Generated by packages/sdk/scripts/gen-openapi.ts from the node's /openapi.json and the error",
    '// catalogue. Do not edit: run `npm run docs:gen` (the SDK drift test fails when this is stale).',
    '',
    '/** Every error code the API answers with (docs/errors.md). */',
    `export type ErrorCode =\n${Object.keys(ERROR_CATALOGUE)
      .map((c) => `  | ${JSON.stringify(c)}`)
      .join('\n')}`,
    '',
    '/** The HTTP status of each error code. */',
    `export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = {\n${Object.entries(ERROR_CATALOGUE)
      .map(([c, v]) => `  ${c}: ${v.status},`)
      .join('\n')}\n}`,
    '',
  ]
  for (const [name, schema] of Object.entries(doc.components?.schemas ?? {})) {
    out.push(`export type Wire${name} = ${tsType(schema)}`, '')
  }
  out.push(
    '/**',
    ' * Every operation by `METHOD path`: path parameters, query, JSON body, the success status and',
    ' * answer (`stream` names the content type of a non-JSON answer, read with `client.stream`/`raw`).',
    ' */',
    'export interface Operations {',
  )
  const ops: Array<[string, Schema]> = []
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method]
      if (op !== undefined) ops.push([`${method.toUpperCase()} ${path}`, op])
    }
  }
  ops.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  for (const [name, op] of ops) {
    const pad = '    '
    const body = (op.requestBody as Schema | undefined)?.content as Record<string, Schema> | undefined
    const json = body?.['application/json']?.schema
    const ok = success(op)
    const isJson = ok.contentType === 'application/json'
    const doc = comment(op.summary, '  ').trimEnd()
    if (doc !== '') out.push(doc)
    out.push(
      `  ${JSON.stringify(name)}: {`,
      `    path: ${paramsType(op, 'path', pad)}`,
      `    query: ${paramsType(op, 'query', pad)}`,
      `    body: ${json === undefined ? (body === undefined ? 'never' : 'BodyInit') : tsType(json, pad)}`,
      `    bodyRequired: ${(op.requestBody as Schema | undefined)?.required === true}`,
      `    status: ${ok.status}`,
      `    response: ${isJson ? tsType(ok.schema, pad) : 'never'}`,
      `    stream: ${isJson ? 'undefined' : JSON.stringify(ok.contentType)}`,
      '  }',
    )
  }
  out.push('}', '')
  return `${out.join('\n')}\n`
}

/** Starts a throwaway node and reads its OpenAPI document. */
export async function nodeDocument(): Promise<Doc> {
  const node = await startTestNode({ api: true })
  try {
    const { apiUrl } = await readRuntimeFile(node.dataDir)
    const res = await fetch(`${apiUrl}/openapi.json`)
    if (!res.ok) throw new Error(`GET /openapi.json answered ${res.status}`)
    return (await res.json()) as Doc
  } finally {
    await stopAll([node])
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const text = generate(await nodeDocument())
  if (process.argv.includes('--check')) {
    const current = await readFile(GENERATED_PATH, 'utf8').catch(() => '')
    if (current !== text) {
      process.stderr.write(`${GENERATED_PATH} is out of date: run npm run docs:gen\n`)
      process.exit(1)
    }
  } else {
    await writeFile(GENERATED_PATH, text)
    process.stdout.write(`wrote ${GENERATED_PATH}\n`)
  }
}
