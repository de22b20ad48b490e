import { Readable } from 'node:stream'
import { parseFtns } from '@prsm/core'
import { z } from 'zod'
import type { Orchestrator } from '../../orchestrator/orchestrator.ts'
import type { WorkflowRun } from '../../orchestrator/run.ts'
import { route } from '../route.ts'
import type { ApiRoutes } from '../server.ts'

export interface QueryRoutesComponents {
  orchestrator: Pick<Orchestrator, 'runWorkflow' | 'query' | 'get' | 'list' | 'cancel'>
  /** Budget (FTNS) of a run submitted without one (`orchestrator.apiDefaultBudget`). */
  defaultBudget: string
}

const ftns = z.string().regex(/^\d+(\.\d{1,18})?$/, 'a decimal FTNS amount such as 2.5')
const RunIdParams = z.object({ id: z.string().min(1).max(64) }).strict()

const WorkflowBody = z
  .object({
    /** The workflow: an object, or JSON/YAML text. */
    workflow: z.union([z.string().max(1024 * 1024), z.record(z.string(), z.unknown())]),
    budget: ftns.optional(),
    query: z.string().max(16_384).optional(),
  })
  .strict()
const QueryBody = z.object({ query: z.string().min(1).max(16_384), budget: ftns.optional() }).strict()

const SummaryJson = z
  .object({
    runId: z.string(),
    query: z.string(),
    status: z.enum(['running', 'done', 'failed', 'cancelled']),
    startedAt: z.number(),
    finishedAt: z.number().optional(),
    steps: z.object({ done: z.number(), running: z.array(z.string()) }),
    traceCid: z.string().optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
    result: z.unknown().optional(),
  })
  .meta({ id: 'WorkflowRun' })

const RUN_ERRORS = [
  'WORKFLOW_INVALID',
  'WORKFLOW_CYCLE',
  'WORKFLOW_DANGLING_REF',
  'WORKFLOW_UNKNOWN_CAPABILITY',
  'PLANNER_NO_MODEL',
  'PLANNER_INVALID_OUTPUT',
  'BUDGET_EXCEEDED',
  'WORKFLOW_STEP_FAILED',
  'MANIFEST_NOT_FOUND',
  'CHAIN_NOT_CONFIGURED',
  'SAFETY_BLOCKED',
] as const

function summary(run: WorkflowRun) {
  const done = run.events.find((e) => e.type === 'done')
  return { ...run.summary(), ...(done?.type === 'done' ? { result: done.result } : {}) }
}

/**
 * Workflow runs: submit a workflow (POST /api/v1/workflows) or a question (POST
 * /api/v1/queries), list runs, read one's status (with the result once done), stream its progress
 * as server-sent events, cancel it.
 */
export function queryRoutes(components: QueryRoutesComponents): ApiRoutes {
  const { orchestrator } = components
  /** The run's budget, wei: the one given, else the default; reserved against the key's budget. */
  const budgetOf = (body: { budget?: string | undefined }) =>
    parseFtns(body.budget ?? components.defaultBudget)
  return (app) => {
    route(app, {
      method: 'POST',
      url: '/api/v1/workflows',
      summary: 'Run a workflow (object or JSON/YAML text) with an optional budget',
      tags: ['workflows'],
      permission: 'jobs:run',
      body: WorkflowBody,
      responses: { 202: SummaryJson },
      errors: [...RUN_ERRORS],
      cost: ({ body }) => budgetOf(body),
      handler: async ({ body, reply }) => {
        const run = await orchestrator.runWorkflow(body.workflow, {
          budget: budgetOf(body),
          ...(body.query === undefined ? {} : { query: body.query }),
        })
        reply.code(202)
        return summary(run)
      },
    })
    route(app, {
      method: 'POST',
      url: '/api/v1/queries',
      summary: 'Answer a question: a model plans a workflow, the network runs it',
      tags: ['workflows'],
      permission: 'jobs:run',
      body: QueryBody,
      responses: { 202: SummaryJson },
      errors: [...RUN_ERRORS],
      cost: ({ body }) => budgetOf(body),
      handler: async ({ body, reply }) => {
        const run = await orchestrator.query(body.query, { budget: budgetOf(body) })
        reply.code(202)
        return summary(run)
      },
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/workflows',
      summary: 'Workflow runs this node knows (running and recently finished)',
      tags: ['workflows'],
      permission: 'jobs:read',
      responses: { 200: z.object({ runs: z.array(SummaryJson) }) },
      handler: async () => ({ runs: orchestrator.list().map((r) => r.summary()) }),
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/workflows/:id',
      summary: 'Status of a run (with the answer, cost and trace CID once done)',
      tags: ['workflows'],
      permission: 'jobs:read',
      params: RunIdParams,
      responses: { 200: SummaryJson },
      errors: ['WORKFLOW_NOT_FOUND'],
      handler: async ({ params }) => summary(orchestrator.get(params.id)),
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/workflows/:id/events',
      summary: 'Progress of a run as server-sent events, from its start to done or error',
      tags: ['workflows'],
      permission: 'jobs:read',
      params: RunIdParams,
      responses: {
        200: {
          contentType: 'text/event-stream',
          description:
            'started, step-started, step-chunk, step-failed, step-done… then done (with the result) or error',
        },
      },
      errors: ['WORKFLOW_NOT_FOUND'],
      handler: async ({ params, reply, signal }) => {
        const run = orchestrator.get(params.id)
        async function* sse(): AsyncGenerator<string> {
          for await (const event of run) {
            if (signal.aborted) return
            yield `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`
          }
        }
        reply.header('content-type', 'text/event-stream')
        reply.header('cache-control', 'no-cache')
        return reply.send(Readable.from(sse()))
      },
    })
    route(app, {
      method: 'POST',
      url: '/api/v1/workflows/:id/cancel',
      summary: 'Cancel a run: steps in flight are stopped, nothing more is paid',
      tags: ['workflows'],
      permission: 'jobs:run',
      params: RunIdParams,
      responses: { 200: SummaryJson },
      errors: ['WORKFLOW_NOT_FOUND'],
      handler: async ({ params }) => orchestrator.cancel(params.id).summary(),
    })
  }
}
