export type { ContentRoutesComponents } from './api/routes/content.ts'
export { contentRoutes, parseRange } from './api/routes/content.ts'
export type { LedgerRoutesComponents } from './api/routes/ledger.ts'
export { ledgerRoutes } from './api/routes/ledger.ts'
export type { ManifestRoutesComponents } from './api/routes/manifests.ts'
export { manifestRoutes } from './api/routes/manifests.ts'
export type { NodeRoutesComponents } from './api/routes/node.ts'
export { nodeRoutes, offerToJson } from './api/routes/node.ts'
export type { ApiComponents, ApiInit, ApiRoutes } from './api/server.ts'
export { apiUrl, createApiServer } from './api/server.ts'
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
export type { JobEvent, RunJobRequest } from './jobs/job-client.ts'
export { collectJob } from './jobs/job-client.ts'
export { charge } from './jobs/job-provider.ts'
export type { JobServiceComponents, JobServiceInit } from './jobs/job-service.ts'
export { JobService } from './jobs/job-service.ts'
export type { JobAccepted, JobInput, JobReceipt, JobRequest, JobStep, JobUsage } from './jobs/messages.ts'
export { registerJobMessages } from './jobs/messages.ts'
export { createLogger, REDACT_PATHS } from './logger.ts'
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
export { compressForBudget, countTokens, rougeL, truncateToTokens } from './orchestrator/compression/index.ts'
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
