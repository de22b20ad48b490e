import { parseFtns } from '@prsm/core'
import { z } from 'zod'
import type { ApiAuth } from '../auth/api-auth.ts'
import type { MemberRecord, OrgRecord } from '../auth/key-store.ts'
import { ROLES } from '../auth/permissions.ts'
import { route } from '../route.ts'
import type { ApiRoutes } from '../server.ts'
import { FtnsAmount, FtnsJson, ftnsJson } from './keys.ts'

/** What the organisation routes need: the node's API auth service. */
export interface OrgRoutesComponents {
  auth: Pick<ApiAuth, 'createOrg' | 'listOrgs' | 'getOrg' | 'setOrgBudget' | 'setMember' | 'removeMember'>
}

const OrgJson = z
  .object({ id: z.string(), name: z.string(), dailyBudget: FtnsJson.nullable(), createdAt: z.string() })
  .strict()
const MemberJson = z.object({ member: z.string(), role: z.enum(ROLES), addedAt: z.string() }).strict()

function orgJson(o: OrgRecord): z.output<typeof OrgJson> {
  return {
    id: o.id,
    name: o.name,
    dailyBudget: ftnsJson(o.dailyBudgetWei),
    createdAt: new Date(o.createdAt).toISOString(),
  }
}

function memberJson(m: MemberRecord): z.output<typeof MemberJson> {
  return { member: m.member, role: m.role, addedAt: new Date(m.addedAt).toISOString() }
}

const OrgName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, dot, dash, underscore; at most 64')
const OrgParams = z.object({ org: z.string().min(1).max(100) }).strict()
const MemberParams = z
  .object({ org: z.string().min(1).max(100), member: z.string().min(1).max(200) })
  .strict()

/**
 * Organisations own keys and budgets. A node admin (the token file) creates organisations and
 * sets their daily budgets; an organisation's admin keys manage its members and keys.
 */
export function orgRoutes(components: OrgRoutesComponents): ApiRoutes {
  const { auth } = components
  return (app) => {
    route(app, {
      method: 'POST',
      url: '/api/v1/orgs',
      summary: 'Create an organisation (node admins)',
      tags: ['orgs'],
      permission: 'keys:manage',
      body: z.object({ name: OrgName, dailyBudget: FtnsAmount.optional() }).strict(),
      responses: { 201: OrgJson },
      handler: ({ body, principal, reply }) => {
        const org = auth.createOrg(principal, {
          name: body.name,
          ...(body.dailyBudget === undefined ? {} : { dailyBudgetWei: parseFtns(body.dailyBudget) }),
        })
        void reply.code(201)
        return orgJson(org)
      },
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/orgs',
      summary: 'List organisations (an organisation admin sees its own)',
      tags: ['orgs'],
      permission: 'keys:manage',
      responses: { 200: z.object({ orgs: z.array(OrgJson) }).strict() },
      handler: ({ principal }) => ({ orgs: auth.listOrgs(principal).map(orgJson) }),
    })
    route(app, {
      method: 'GET',
      url: '/api/v1/orgs/:org',
      summary: 'An organisation and its members',
      tags: ['orgs'],
      permission: 'keys:manage',
      params: OrgParams,
      responses: { 200: OrgJson.extend({ members: z.array(MemberJson) }).strict() },
      errors: ['NOT_FOUND'],
      handler: ({ params, principal }) => {
        const org = auth.getOrg(principal, params.org)
        return { ...orgJson(org), members: org.members.map(memberJson) }
      },
    })
    route(app, {
      method: 'PUT',
      url: '/api/v1/orgs/:org/budget',
      summary: "Set or clear an organisation's daily FTNS budget (node admins)",
      tags: ['orgs'],
      permission: 'keys:manage',
      params: OrgParams,
      body: z.object({ dailyBudget: FtnsAmount.nullable() }).strict(),
      responses: { 200: OrgJson },
      errors: ['NOT_FOUND'],
      handler: ({ params, body, principal }) =>
        orgJson(
          auth.setOrgBudget(
            principal,
            params.org,
            body.dailyBudget === null ? null : parseFtns(body.dailyBudget),
          ),
        ),
    })
    route(app, {
      method: 'PUT',
      url: '/api/v1/orgs/:org/members/:member',
      summary: 'Add a member or change their role',
      tags: ['orgs'],
      permission: 'keys:manage',
      params: MemberParams,
      body: z.object({ role: z.enum(ROLES) }).strict(),
      responses: { 200: MemberJson },
      errors: ['NOT_FOUND'],
      handler: ({ params, body, principal }) =>
        memberJson(auth.setMember(principal, params.org, params.member, body.role)),
    })
    route(app, {
      method: 'DELETE',
      url: '/api/v1/orgs/:org/members/:member',
      summary: "Remove a member (the member's keys are revoked)",
      tags: ['orgs'],
      permission: 'keys:manage',
      params: MemberParams,
      responses: { 200: z.object({ revokedKeys: z.array(z.string()) }).strict() },
      errors: ['NOT_FOUND'],
      handler: ({ params, principal }) => auth.removeMember(principal, params.org, params.member),
    })
  }
}
