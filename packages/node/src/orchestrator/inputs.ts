import { PrsmError } from '@prsm/core'
import { CID } from 'multiformats/cid'
import type { JobInput } from '../jobs/messages.ts'
import type { ManifestService } from '../storage/manifests.ts'
import type { ContentStorage } from '../storage/storage.ts'
import { type Compressor, countTokens } from './compressor.ts'
import type { RoyaltyRate } from './spending.ts'
import { putContent } from './trace.ts'
import type { StepInput, WorkflowStep } from './workflow.ts'

/** Outputs up to this size are handed to dependent steps inline; larger ones by CID. */
export const INLINE_INPUT_MAX_BYTES = 48 * 1024

/** A finished step's output, as dependent steps read it. */
export interface StepOutput {
  bytes: Uint8Array
  cid: CID
  hash: string
}

export interface ResolvedInputs {
  /** What the job request carries. */
  jobInputs: JobInput[]
  /** The content each input is (what the trace records), in order. */
  cids: CID[]
  /** Inline text of each input when known (for compile and compression). */
  texts: Array<string | undefined>
  /** The program CID (compute steps). */
  program: CID | undefined
  /** Royalty rates of every manifest the step uses. */
  royalties: RoyaltyRate[]
  compression: Array<{ input: number; ratio: number; method: string; score: number }>
}

export interface InputComponents {
  storage: Pick<ContentStorage, 'putBlock' | 'add'>
  manifests: Pick<ManifestService, 'resolve'>
  compress?: Compressor
  /** A model summary for the compressor (when a model is offered). */
  summarize?: (text: string, budgetTokens: number, options: { signal?: AbortSignal }) => Promise<string>
}

/**
 * Resolves a step's inputs: literals are stored as content (so the trace names them by CID) and
 * sent inline; CIDs are sent as CIDs; a manifest input is its file's CID (and its creator is owed
 * a royalty); a step reference is the parent's output, inline when small. When the step sets
 * `params.maxInputTokens` and an inline input is longer, it is compressed to that budget and the
 * ratio and preservation score are recorded.
 */
export async function resolveInputs(
  c: InputComponents,
  step: WorkflowStep,
  outputs: ReadonlyMap<string, StepOutput>,
  options: { signal?: AbortSignal } = {},
): Promise<ResolvedInputs> {
  const out: ResolvedInputs = {
    jobInputs: [],
    cids: [],
    texts: [],
    program: undefined,
    royalties: [],
    compression: [],
  }
  const budget = step.params.maxInputTokens
  for (const [index, input] of step.inputs.entries()) {
    const { jobInput, cid, text } = await resolveOne(c, step, input, outputs, out.royalties, options)
    if (
      text !== undefined &&
      typeof budget === 'number' &&
      c.compress !== undefined &&
      countTokens(text) > budget
    ) {
      const compressed = await c.compress(text, Math.max(1, Math.floor(budget)), {
        ...options,
        ...(c.summarize === undefined ? {} : { summarize: c.summarize }),
      })
      const bytes = new TextEncoder().encode(compressed.text)
      out.jobInputs.push({ text: compressed.text })
      out.cids.push(await putContent(c.storage, bytes, options))
      out.texts.push(compressed.text)
      out.compression.push({
        input: index,
        ratio: compressed.ratio,
        method: compressed.preservation.method,
        score: compressed.preservation.score,
      })
      continue
    }
    out.jobInputs.push(jobInput)
    out.cids.push(cid)
    out.texts.push(text)
  }
  if (step.program !== undefined) {
    const { cid } = await resolveOne(c, step, step.program, outputs, out.royalties, options)
    out.program = cid
  }
  for (const ref of step.uses) {
    const { manifest } = await c.manifests.resolve(ref, options)
    out.royalties.push({ creator: manifest.creator, bps: manifest.royaltyBps })
  }
  return out
}

async function resolveOne(
  c: InputComponents,
  step: WorkflowStep,
  input: StepInput,
  outputs: ReadonlyMap<string, StepOutput>,
  royalties: RoyaltyRate[],
  options: { signal?: AbortSignal },
): Promise<{ jobInput: JobInput; cid: CID; text?: string }> {
  if (typeof input === 'string' || 'text' in input) {
    const text = typeof input === 'string' ? input : input.text
    return {
      jobInput: { text },
      cid: await putContent(c.storage, new TextEncoder().encode(text), options),
      text,
    }
  }
  if ('cid' in input) {
    const cid = parseInputCid(input.cid, step.id)
    return { jobInput: { cid: cid.toString() }, cid }
  }
  if ('manifest' in input) {
    const { manifest } = await c.manifests.resolve(input.manifest, options)
    const file =
      input.file === undefined ? manifest.files[0] : manifest.files.find((f) => f.path === input.file)
    if (file === undefined) {
      throw new PrsmError('WORKFLOW_INVALID', `manifest ${input.manifest} has no file ${input.file}`, {
        details: { step: step.id, manifest: input.manifest },
      })
    }
    royalties.push({ creator: manifest.creator, bps: manifest.royaltyBps })
    const cid = parseInputCid(file.cid, step.id)
    return { jobInput: { cid: cid.toString() }, cid }
  }
  const parent = outputs.get(input.step)
  if (parent === undefined) {
    throw new PrsmError('WORKFLOW_DANGLING_REF', `step ${step.id} ran before ${input.step}`, {
      details: { step: step.id, ref: input.step },
    })
  }
  if (parent.bytes.byteLength > INLINE_INPUT_MAX_BYTES) {
    return {
      jobInput: { cid: parent.cid.toString() },
      cid: parent.cid,
      text: Buffer.from(parent.bytes).toString('utf8'),
    }
  }
  const text = Buffer.from(parent.bytes).toString('utf8')
  return { jobInput: { text }, cid: parent.cid, text }
}

function parseInputCid(text: string, step: string): CID {
  try {
    return CID.parse(text)
  } catch (cause) {
    throw new PrsmError('WORKFLOW_INVALID', `step ${step} names ${text}, which is not a CID`, {
      cause,
      details: { step },
    })
  }
}
