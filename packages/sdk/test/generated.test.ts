import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { it } from 'node:test'
import { GENERATED_PATH, generate, nodeDocument, tsType } from '../scripts/gen-openapi.ts'

it("src/generated/openapi.ts matches a running node's /openapi.json (run npm run docs:gen when not)", async () => {
  const expected = generate(await nodeDocument())
  const current = await readFile(GENERATED_PATH, 'utf8')
  assert.ok(
    current === expected,
    'packages/sdk/src/generated/openapi.ts is out of date: run npm run docs:gen',
  )
})

it('turns JSON Schema into TypeScript types', () => {
  assert.equal(tsType({ type: ['string', 'null'] }), 'string | null')
  assert.equal(tsType({ enum: ['a', 'b'] }), '"a" | "b"')
  assert.equal(tsType({ type: 'array', items: { type: 'integer' } }), 'number[]')
  assert.equal(
    tsType({
      type: 'object',
      properties: { 'a-b': { type: 'boolean' }, c: { const: 1 } },
      required: ['c'],
      additionalProperties: false,
    }),
    '{\n  "a-b"?: boolean\n  c: 1\n}',
  )
  assert.equal(tsType({ type: 'object', additionalProperties: { type: 'string' } }), 'Record<string, string>')
  // a recursive definition (zod's JSON values) ends in unknown instead of looping
  assert.equal(
    tsType({
      $ref: '#/$defs/J',
      $defs: { J: { anyOf: [{ type: 'string' }, { type: 'array', items: { $ref: '#/$defs/J' } }] } },
    }),
    '(string | unknown[])',
  )
})
