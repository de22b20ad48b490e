export type { ApiAuthComponents, ApiAuthInit, AuditSink, CreateKeyInput } from './api/auth/api-auth.ts'
export { ApiAuth } from './api/auth/api-auth.ts'
export type { ApiKeyRecord, MemberRecord, OrgRecord } from './api/auth/key-store.ts'
export type { Permission, Role } from './api/auth/permissions.ts'
export { allows, PERMISSIONS, permissionTable, ROLES } from './api/auth/permissions.ts'
export type { Principal } from './api/auth/principal.ts'
export { openApiDocument } from './api/openapi.ts'
export type { AnyRouteSpec, RouteContext, RouteSpec, StreamResponse } from './api/route.ts'
export { ErrorWireSchema, route } from './api/route.ts'
export type { ContentRoutesComponents } from './api/routes/content.ts'
export { contentRoutes, parseRange } from './api/routes/content.ts'
export type { KeyRoutesComponents } from './api/routes/keys.ts'
export { keyRoutes } from './api/routes/keys.ts'
export type { LedgerRoutesComponents } from './api/routes/ledger.ts'
export { ledgerRoutes } from './api/routes/ledger.ts'
export type { ManifestRoutesComponents } from './api/routes/manifests.ts'
export { manifestRoutes } from './api/routes/manifests.ts'
export type { NodeRoutesComponents } from './api/routes/node.ts'
export { nodeRoutes, offerToJson } from './api/routes/node.ts'
export type { OrgRoutesComponents } from './api/routes/orgs.ts'
export { orgRoutes } from './api/routes/orgs.ts'
export type { ApiComponents, ApiGuard, ApiInit, ApiRoutes, RouteEntry } from './api/server.ts'
export { apiUrl, buildApiServer, createApiServer, routeTable } from './api/server.ts'
export type {
  AlertRule,
  AuditCategory,
  AuditEntry,
  AuditInput,
  AuditQuery,
  AuditVerification,
  NodeAudit,
} from './audit/index.ts'
export { AUDIT_CATEGORIES, AUDIT_FILE, createAuditLog, verifyAuditFile } from './audit/index.ts'
export type { ProposalInfo, ProposeInput, VoteSupport } from './governance/governance-service.ts'
export { GovernanceService } from './governance/governance-service.ts'
export type { Identity, InitOptions, PublicIdentity } from './identity/identity.ts'
export { identityIsInsecure, initIdentity, loadIdentity, readPublicIdentity } from './identity/identity.ts'
export { keystorePath } from './identity/keystore.ts'
export type {
  Backend,
  BackendEvent,
  BackendRunOptions,
  ResolvedInput,
  SafetyHook,
  SafetyVerdict,
} from './jobs/backend.ts'
export { passThroughSafety } from './jobs/backend.ts'
export type { EvidenceRecord } from './jobs/evidence.ts'
export { EvidenceStore, verifyEvidence } from './jobs/evidence.ts'
export type { JobEvent, RunJobRequest } from './jobs/job-client.ts'
export { collectJob } from './jobs/job-client.ts'
export { charge } from './jobs/job-provider.ts'
export type { JobServiceComponents, JobServiceInit } from './jobs/job-service.ts'
export { JobService } from './jobs/job-service.ts'
export type { LocalModel } from './jobs/local-models.ts'
export { detectLocalModels, OLLAMA_DEFAULT_URL, withLocalModels } from './jobs/local-models.ts'
export type { JobAccepted, JobInput, JobReceipt, JobRequest, JobStep, JobUsage } from './jobs/messages.ts'
export { registerJobMessages } from './jobs/messages.ts'
export type { ProviderReputation } from './jobs/reputation.ts'
export { ReputationStore } from './jobs/reputation.ts'
export { WASM_ABI } from './jobs/sandbox/compute-wasm.ts'
export type { VerifiedOptions, VerifiedResult } from './jobs/verification.ts'
export { hashStep, runVerified } from './jobs/verification.ts'
export {
  type AccessEntry,
  type AccessLogWriter,
  accessLogWriter,
  BufferedDestination,
  createLogger,
  redactSecrets,
  SECRET_FIELDS,
} from './logger.ts'
export type { FindOffersOptions, FoundOffer } from './market/offers.ts'
export {
  JOB_PROTOCOL,
  OFFERS_FETCH_PROTOCOL,
  OFFERS_TOPIC,
  OfferService,
  registerOfferMessages,
} from './market/offers.ts'
export type {
  OpenChannelRequest,
  PaymentReceipt,
  PaymentServiceComponents,
  PaymentServiceInit,
} from './market/payments.ts'
export {
  PAY_INFO_PROTOCOL,
  PAY_PROTOCOL,
  PaymentService,
  registerPaymentMessages,
} from './market/payments.ts'
export type { PrsmLibp2p } from './net/libp2p.ts'
export { buildLibp2p, DHT_PROTOCOL } from './net/libp2p.ts'
export { MessageGate } from './net/message-gate.ts'
export { PENALTY_POINTS, PeerPenalties } from './net/penalties.ts'
export type { PeerInfo, PrsmNodeInit } from './node.ts'
export { NODE_VERSION, PrsmNode } from './node.ts'
export type {
  CompressionResult,
  CompressOptions,
  Embed,
  RougeL,
  Summarize,
} from './orchestrator/compression/index.ts'
export {
  compressForBudget,
  countTokens,
  modelSummarizer,
  rougeL,
  truncateToTokens,
} from './orchestrator/compression/index.ts'
export type { OrchestratorComponents, OrchestratorInit, RunOptions } from './orchestrator/orchestrator.ts'
export { Orchestrator } from './orchestrator/orchestrator.ts'
export type { ReputationView, RoutingSafety } from './orchestrator/router.ts'
export { Router } from './orchestrator/router.ts'
export type { RunStatus, RunSummary } from './orchestrator/run.ts'
export { WorkflowRun } from './orchestrator/run.ts'
export type { CostBreakdown, ProgressEvent, RunResult } from './orchestrator/scheduler.ts'
export type { Trace, TraceStep } from './orchestrator/trace.ts'
export { traceToJson } from './orchestrator/trace-json.ts'
export type { StepVerdict, TraceVerdict } from './orchestrator/trace-verify.ts'
export { verifyTrace } from './orchestrator/trace-verify.ts'
export type {
  StepInput,
  ValidWorkflow,
  Workflow,
  WorkflowInput,
  WorkflowStep,
} from './orchestrator/workflow.ts'
export { parseWorkflow, validateWorkflow, WORKFLOW_VERSION } from './orchestrator/workflow.ts'
export { installProcessGuards } from './process-guards.ts'
export type { RuntimeInfo } from './runtime-file.ts'
export { RUNTIME_FILE, readRuntimeFile, TOKEN_FILE } from './runtime-file.ts'
export type { Assessment, ThreatLevel } from './safety/assess/assessor.ts'
export { assessText, scanText } from './safety/assess/assessor.ts'
export type { SafetyCategory, Violation } from './safety/assess/violation.ts'
export { BREAKER_TOPIC } from './safety/breaker-gossip.ts'
export type { BreakerState, BreakerStatus } from './safety/breakers.ts'
export { Breakers } from './safety/breakers.ts'
export type { CorpusCase, EvalReport } from './safety/eval.ts'
export { DEFAULT_CORPUS_DIR, evaluateCorpus, loadCorpus } from './safety/eval.ts'
export type { AppliedCertificate, HaltStatus } from './safety/halt/halt-service.ts'
export { HALT_CERTIFICATES_TOPIC, HALT_VOTES_TOPIC, HaltService } from './safety/halt/halt-service.ts'
export type {
  HaltAction,
  HaltCertificate,
  HaltEvidence,
  HaltVote,
  SignedHaltVote,
} from './safety/halt/quorum.ts'
export { parseScope, quorumSize, signHaltVote, VoteBook, verifyCertificate } from './safety/halt/quorum.ts'
export type { EvaluationReport, LineageVerdict } from './safety/lineage.ts'
export { LineageService, lineageApprovalKey } from './safety/lineage.ts'
export type { SafetyPolicy } from './safety/policy.ts'
export { DEFAULT_POLICY, parsePolicy, policyCid, policyParameter } from './safety/policy.ts'
export type { SafetyStatus } from './safety/safety-service.ts'
export { SafetyService } from './safety/safety-service.ts'
export { BLOCK_PROTOCOL, BlockExchange } from './storage/block-exchange.ts'
export type { Manifest, ManifestInput } from './storage/manifest.ts'
export {
  decodeManifest,
  encodeManifest,
  MANIFEST_DOMAIN,
  MANIFEST_TYPES,
  manifestNameCid,
  manifestSignatureValid,
  signManifest,
} from './storage/manifest.ts'
export type { StoredManifest } from './storage/manifests.ts'
export { MANIFESTS_FETCH_PROTOCOL, MANIFESTS_TOPIC, ManifestService } from './storage/manifests.ts'
export type { ProvenanceEdge, ProvenanceGraph, ProvenanceNode } from './storage/provenance.ts'
export { provenanceText } from './storage/provenance.ts'
export type { AddResult, ContentStat, StorageComponents, StorageInit } from './storage/storage.ts'
export { ContentStorage, parseCid } from './storage/storage.ts'
export type { UsageRecord } from './storage/usage.ts'
