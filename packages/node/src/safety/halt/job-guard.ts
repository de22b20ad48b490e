import type { SafetyHook } from '../../jobs/backend.ts'

/** A check run before the safety hook: throws (HALTED, LINEAGE_APPROVAL_REQUIRED…) to refuse. */
export type JobGuard = (request: { capability: string }, context: { client: string }) => void | Promise<void>

/**
 * The provider's safety hook with guards in front: each guard may refuse a request by throwing a
 * PrsmError, whose code the client receives as the job error; then `inner` (the circuit
 * breakers) decides. Output checks are `inner`'s.
 */
export function guardedSafety(guards: readonly JobGuard[], inner?: SafetyHook): SafetyHook {
  const hook: SafetyHook = {
    async checkRequest(request, context) {
      for (const guard of guards) await guard(request, context)
      return inner === undefined ? { allow: true } : inner.checkRequest(request, context)
    },
  }
  const checkOutput = inner?.checkOutput?.bind(inner)
  if (checkOutput !== undefined) hook.checkOutput = checkOutput
  return hook
}
