import {
  castVote,
  executeProposal,
  PARAMETER_NAMES,
  type ParameterName,
  type ProposalActions,
  type ProposalState,
  parameterKey,
  parameterName,
  parameterRegistryAbi,
  proposalState,
  propose,
  providerRegistryAbi,
  prsmGovernorAbi,
  queueProposal,
} from '@prsm/contracts'
import { PrsmError } from '@prsm/core'
import type { Logger } from 'pino'
import { decodeFunctionData, encodeFunctionData, type Hex, publicActions } from 'viem'
import type { AuditInput } from '../audit/audit-log.ts'
import { chainError } from '../ledger/chain.ts'
import type { Ledger } from '../ledger/ledger.ts'
import type { ParameterChange } from '../ledger/parameters.ts'
import { lineageApprovalKey } from '../safety/lineage.ts'

export interface GovernanceServiceComponents {
  ledger: Pick<Ledger, 'enabled' | 'chain' | 'parameters'>
  /** Halt equivocation evidence by id (for slashing proposals). */
  evidence?: (id: string) => { id: string; validator: string; address?: string } | undefined
  audit?: { append(input: AuditInput): unknown }
  logger: Logger
}

/** A proposed parameter change, decoded from the proposal's calldata. */
export interface ProposedChange {
  key: Hex
  /** The parameter name, `lineageApproval:<cid>` for an approval, or undefined for an unknown key. */
  name?: string
  value: string
}

export interface ProposalInfo {
  id: string
  proposer: string
  description: string
  state: ProposalState
  /** Chain time (seconds) voting opens and closes. */
  voteStart: string
  voteEnd: string
  votes: { against: string; for: string; abstain: string }
  changes: ProposedChange[]
  /** Stake slashes (ProviderRegistry.slash) with the evidence hash they cite. */
  slashes: Array<{ provider: string; amount: string; evidence: string }>
  /** Proposals that do something other than set parameters carry their raw actions. */
  actions: { targets: string[]; values: string[]; calldatas: string[] }
}

export interface ProposeInput {
  /** Parameter name → new value (integer, as a string or bigint). */
  parameters?: Record<string, string | bigint>
  /** Manifest CIDs of model versions to approve (sets their lineage approval key to 1). */
  approveManifests?: string[]
  /** Slash a validator's stake for recorded halt equivocation (evidence id from the halt service). */
  slash?: { evidence: string; amount: string | bigint }
  description: string
}

const SUPPORT = { against: 0, for: 1, abstain: 2 } as const
export type VoteSupport = keyof typeof SUPPORT

/**
 * Governance from the node: proposals to the on-chain Governor (parameter changes, lineage
 * approvals), votes with this node's wallet, queue/execute, listing with state and tallies.
 * Executed parameter changes reach the node through the ledger's parameter watcher; this
 * service records each in the audit log.
 */
export class GovernanceService {
  readonly #c: GovernanceServiceComponents
  readonly #approvals = new Map<string, string>()
  #off: (() => void) | undefined

  constructor(components: GovernanceServiceComponents) {
    this.#c = components
  }

  start(): void {
    if (!this.#c.ledger.enabled || this.#off !== undefined) return
    this.#off = this.#c.ledger.parameters.onChange((changes) => this.#applied(changes))
  }

  stop(): void {
    this.#off?.()
    this.#off = undefined
  }

  #applied(changes: ParameterChange[]): void {
    for (const c of changes) {
      const name = c.name ?? this.#approvals.get(c.key.toLowerCase())
      this.#c.logger.info(
        { parameter: name ?? c.key, previous: c.previous?.toString(), value: c.value.toString() },
        'governance parameter applied',
      )
      this.#c.audit?.append({
        category: 'governance',
        type: 'parameter.applied',
        subject: name ?? c.key,
        outcome: 'success',
        risk: 30,
        details: { key: c.key, previous: c.previous?.toString() ?? null, value: c.value.toString() },
      })
    }
  }

  #client() {
    if (!this.#c.ledger.enabled) throw new PrsmError('CHAIN_NOT_CONFIGURED')
    const chain = this.#c.ledger.chain
    return { chain, client: chain.walletClient.extend(publicActions), deployment: chain.deployment }
  }

  /** Builds the Governor actions of a parameter / approval proposal. */
  actions(input: ProposeInput): ProposalActions {
    const { deployment } = this.#client()
    const keys: Hex[] = []
    const values: bigint[] = []
    for (const [name, raw] of Object.entries(input.parameters ?? {})) {
      if (!(PARAMETER_NAMES as string[]).includes(name)) {
        throw new PrsmError('PROPOSAL_INVALID', `unknown parameter ${name}`, {
          details: { known: PARAMETER_NAMES },
        })
      }
      let value: bigint
      try {
        value = BigInt(raw)
      } catch {
        throw new PrsmError('PROPOSAL_INVALID', `${name} must be an integer, got ${String(raw)}`)
      }
      if (value < 0n) throw new PrsmError('PROPOSAL_INVALID', `${name} must not be negative`)
      keys.push(parameterKey(name as ParameterName))
      values.push(value)
    }
    for (const cid of input.approveManifests ?? []) {
      keys.push(lineageApprovalKey(cid))
      values.push(1n)
      this.#approvals.set(lineageApprovalKey(cid).toLowerCase(), `lineageApproval:${cid}`)
    }
    const p: ProposalActions = { targets: [], values: [], calldatas: [], description: input.description }
    if (keys.length > 0) {
      p.targets.push(deployment.addresses.parameters)
      p.values.push(0n)
      p.calldatas.push(
        encodeFunctionData({ abi: parameterRegistryAbi, functionName: 'setMany', args: [keys, values] }),
      )
    }
    if (input.slash !== undefined) {
      const e = this.#c.evidence?.(input.slash.evidence)
      if (e?.address === undefined) {
        throw new PrsmError(
          'PROPOSAL_INVALID',
          `no evidence ${input.slash.evidence} naming a validator wallet`,
        )
      }
      let amount: bigint
      try {
        amount = BigInt(input.slash.amount)
      } catch {
        throw new PrsmError('PROPOSAL_INVALID', 'the slash amount must be an integer (wei)')
      }
      if (amount <= 0n) throw new PrsmError('PROPOSAL_INVALID', 'the slash amount must be positive')
      p.targets.push(deployment.addresses.providers)
      p.values.push(0n)
      p.calldatas.push(
        encodeFunctionData({
          abi: providerRegistryAbi,
          functionName: 'slash',
          args: [e.address as Hex, amount, `0x${e.id}`],
        }),
      )
    }
    if (p.targets.length === 0) throw new PrsmError('PROPOSAL_INVALID', 'the proposal changes nothing')
    if (input.description.trim() === '') throw new PrsmError('PROPOSAL_INVALID', 'a description is required')
    return p
  }

  async propose(input: ProposeInput): Promise<{ id: string }> {
    const { client, deployment, chain } = this.#client()
    const actions = this.actions(input)
    let id: bigint
    try {
      id = await propose(client, deployment, actions)
    } catch (cause) {
      throw governorError(cause, 'propose')
    }
    this.#c.audit?.append({
      category: 'governance',
      type: 'proposal.created',
      actor: chain.address,
      subject: id.toString(),
      outcome: 'success',
      risk: 20,
      details: { description: input.description.slice(0, 512), approvals: input.approveManifests ?? [] },
    })
    return { id: id.toString() }
  }

  async vote(id: string, support: VoteSupport): Promise<{ id: string; support: VoteSupport; tx: Hex }> {
    const { client, deployment, chain } = this.#client()
    if (!(support in SUPPORT))
      throw new PrsmError('PROPOSAL_INVALID', 'support must be for, against or abstain')
    const state = await this.#state(id)
    if (state !== 'Active') {
      throw new PrsmError(
        'PROPOSAL_INVALID',
        `proposal ${id} is ${state}: votes are taken while it is Active`,
        {
          details: { id, state },
        },
      )
    }
    let tx: Hex
    try {
      tx = await castVote(client, deployment, parseId(id), SUPPORT[support])
    } catch (cause) {
      throw governorError(cause, 'vote')
    }
    this.#c.audit?.append({
      category: 'governance',
      type: 'proposal.vote',
      actor: chain.address,
      subject: id,
      outcome: 'success',
      risk: 10,
      details: { support, tx },
    })
    return { id, support, tx }
  }

  /** Queues a succeeded proposal, or executes a queued one whose timelock delay has passed. */
  async execute(id: string): Promise<{ id: string; state: ProposalState }> {
    const { client, deployment, chain } = this.#client()
    const info = await this.show(id)
    const actions: ProposalActions = {
      targets: info.actions.targets as Hex[],
      values: info.actions.values.map(BigInt),
      calldatas: info.actions.calldatas as Hex[],
      description: info.description,
    }
    if (info.state === 'Queued') {
      const [eta, block] = await Promise.all([
        chain.publicClient.readContract({
          address: deployment.addresses.governor,
          abi: prsmGovernorAbi,
          functionName: 'proposalEta',
          args: [parseId(id)],
        }),
        chain.publicClient.getBlock(),
      ])
      if (block.timestamp < eta) {
        throw new PrsmError(
          'PROPOSAL_INVALID',
          `proposal ${id} is queued in the timelock until ${new Date(Number(eta) * 1000).toISOString()}`,
          { details: { id, eta: eta.toString() } },
        )
      }
    }
    try {
      if (info.state === 'Succeeded') await queueProposal(client, deployment, actions)
      else if (info.state === 'Queued') await executeProposal(client, deployment, actions)
      else
        throw new PrsmError(
          'PROPOSAL_INVALID',
          `proposal ${id} is ${info.state}: only Succeeded or Queued move on`,
        )
    } catch (cause) {
      if (cause instanceof PrsmError) throw cause
      throw governorError(cause, info.state === 'Succeeded' ? 'queue' : 'execute')
    }
    const state = await proposalState(client, deployment, parseId(id))
    this.#c.audit?.append({
      category: 'governance',
      type: state === 'Executed' ? 'proposal.executed' : 'proposal.queued',
      actor: chain.address,
      subject: id,
      outcome: 'success',
      risk: 30,
    })
    return { id, state }
  }

  /** A proposal's state; PROPOSAL_INVALID when the Governor does not know it. */
  async #state(id: string): Promise<ProposalState> {
    const { client, deployment } = this.#client()
    try {
      return await proposalState(client, deployment, parseId(id))
    } catch (cause) {
      throw governorError(cause, 'read proposal state')
    }
  }

  /** Every proposal made to the Governor since the deployment, newest first. */
  async list(options: { signal?: AbortSignal } = {}): Promise<ProposalInfo[]> {
    const { chain, deployment } = this.#client()
    options.signal?.throwIfAborted()
    let logs: Awaited<
      ReturnType<typeof chain.publicClient.getContractEvents<typeof prsmGovernorAbi, 'ProposalCreated'>>
    >
    try {
      logs = await chain.publicClient.getContractEvents({
        address: deployment.addresses.governor,
        abi: prsmGovernorAbi,
        eventName: 'ProposalCreated',
        fromBlock: deployment.deployBlock,
      })
    } catch (cause) {
      throw chainError(cause, 'list proposals')
    }
    const out = await Promise.all(logs.map((l) => this.#info(l.args as CreatedArgs)))
    return out.reverse()
  }

  async show(id: string): Promise<ProposalInfo> {
    const wanted = parseId(id)
    const found = (await this.list()).find((p) => BigInt(p.id) === wanted)
    if (found === undefined) throw new PrsmError('PROPOSAL_INVALID', `no proposal ${id}`, { details: { id } })
    return found
  }

  async #info(a: CreatedArgs): Promise<ProposalInfo> {
    const { chain, deployment, client } = this.#client()
    const governor = deployment.addresses.governor
    const [state, [against, forVotes, abstain]] = await Promise.all([
      proposalState(client, deployment, a.proposalId),
      chain.publicClient.readContract({
        address: governor,
        abi: prsmGovernorAbi,
        functionName: 'proposalVotes',
        args: [a.proposalId],
      }),
    ])
    return {
      id: a.proposalId.toString(),
      proposer: a.proposer,
      description: a.description,
      state,
      voteStart: a.voteStart.toString(),
      voteEnd: a.voteEnd.toString(),
      votes: { against: against.toString(), for: forVotes.toString(), abstain: abstain.toString() },
      changes: a.targets.flatMap((t, i) =>
        t.toLowerCase() === deployment.addresses.parameters.toLowerCase()
          ? this.#decodeChanges(a.calldatas[i] as Hex)
          : [],
      ),
      slashes: a.targets.flatMap((t, i) =>
        t.toLowerCase() === deployment.addresses.providers.toLowerCase()
          ? decodeSlash(a.calldatas[i] as Hex)
          : [],
      ),
      actions: {
        targets: [...a.targets],
        values: a.values.map(String),
        calldatas: [...a.calldatas],
      },
    }
  }

  #decodeChanges(data: Hex): ProposedChange[] {
    try {
      const call = decodeFunctionData({ abi: parameterRegistryAbi, data })
      const pairs: Array<[Hex, bigint]> =
        call.functionName === 'setMany'
          ? (call.args[0] as readonly Hex[]).map((k, i) => [k, (call.args[1] as readonly bigint[])[i] ?? 0n])
          : call.functionName === 'set'
            ? [[call.args[0] as Hex, call.args[1] as bigint]]
            : []
      return pairs.map(([key, value]) => {
        const name = parameterName(key) ?? this.#approvals.get(key.toLowerCase())
        return { key, ...(name === undefined ? {} : { name }), value: value.toString() }
      })
    } catch {
      return []
    }
  }
}

interface CreatedArgs {
  proposalId: bigint
  proposer: string
  targets: readonly string[]
  values: readonly bigint[]
  calldatas: readonly string[]
  voteStart: bigint
  voteEnd: bigint
  description: string
}

function decodeSlash(data: Hex): ProposalInfo['slashes'] {
  try {
    const call = decodeFunctionData({ abi: providerRegistryAbi, data })
    if (call.functionName !== 'slash') return []
    const [provider, amount, evidence] = call.args as readonly [string, bigint, string]
    return [{ provider, amount: amount.toString(), evidence }]
  } catch {
    return []
  }
}

/** A Governor or timelock revert (unknown proposal, wrong state, already voted, not ready) is the caller's mistake. */
function governorError(cause: unknown, action: string): PrsmError {
  const err = chainError(cause, action)
  const reason = String(err.details?.reason ?? '')
  if (err.code === 'CHAIN_TX_REVERTED' && (reason.startsWith('Governor') || reason.startsWith('Timelock'))) {
    return new PrsmError('PROPOSAL_INVALID', `${action}: ${reason}`, { cause, details: err.details ?? {} })
  }
  return err
}

function parseId(id: string): bigint {
  try {
    const n = BigInt(id)
    if (n < 0n) throw new Error('negative')
    return n
  } catch {
    throw new PrsmError('PROPOSAL_INVALID', `not a proposal id: ${id}`)
  }
}
