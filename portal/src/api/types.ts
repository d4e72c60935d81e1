// Names for the API's shapes. Prefer these aliases over reaching into `components` in pages.
import type { Schemas } from "./client";

export type AgentKind = Schemas["AgentKind"];
export type RecommendationStatus = Schemas["RecommendationStatus"];
export type RiskLevel = Schemas["RiskLevel"];
export type RecommendationItem = Schemas["RecommendationItem"];
export type RecommendationDetail = Schemas["RecommendationDetail"];
export type RecommendationPreview = Schemas["RecommendationPreview"];
export type OptimizationRun = Schemas["OptimizationRun"];
export type Workload = Schemas["Workload"];
export type Customer = Schemas["Customer"];
export type SavingsReport = Schemas["SavingsReport"];
export type SloReport = Schemas["SloReport"];
export type InferenceCostReport = Schemas["InferenceCostReport"];
export type AuditEntry = Schemas["AuditEntry"];
export type StoredConflict = Schemas["StoredConflict"];
export type ScanScheduleView = Schemas["ScanScheduleView"];
export type ApiKey = Schemas["ApiKey"];

/** Any paged list answer of the API. */
export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

export type WorkloadDetail = Schemas["WorkloadDetail"];
export type Role = Schemas["Role"];
/** GET /v1/session */
export type SessionInfo = Schemas["Session"];
/** GET /v1/auth/oidc?customer_id=X */
export type OidcClientConfig = Schemas["OidcSignIn"];

export const AGENTS: readonly AgentKind[] = ["cost", "performance", "resource", "application"];
export const RISKS: readonly RiskLevel[] = ["low", "medium", "high"];
export const STATUSES: readonly RecommendationStatus[] = [
  "pending_approval",
  "approved",
  "rejected",
  "expired",
  "executing",
  "executed",
  "rolled_back",
  "failed",
  "superseded",
];
/** Statuses after which a recommendation no longer changes (polling stops). */
export const FINAL_STATUSES: ReadonlySet<string> = new Set([
  "rejected",
  "expired",
  "executed",
  "rolled_back",
  "failed",
  "superseded",
]);
