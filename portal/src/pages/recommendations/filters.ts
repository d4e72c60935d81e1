import type { AgentKind, RecommendationStatus, RiskLevel } from "../../api/types";
import { AGENTS, RISKS, STATUSES } from "../../api/types";

/** The list's filters as kept in the page URL: ?status=&agent=&workload=&customer=&risk=&offset= */
export interface RecommendationFilters {
  status: RecommendationStatus | "";
  agent: AgentKind | "";
  workload: string;
  customer: string;
  risk: RiskLevel | "";
}

export const FILTER_PARAMS = ["status", "agent", "workload", "customer", "risk"] as const;
const IDENTIFIER = /^[a-z0-9][a-z0-9-]{0,62}$/;

function oneOf<T extends string>(value: string | null, allowed: readonly T[]): T | "" {
  return value !== null && (allowed as readonly string[]).includes(value) ? (value as T) : "";
}

/** Reads the filters from the URL; unknown values are ignored (treated as "All"). */
export function filtersFromParams(params: URLSearchParams): RecommendationFilters {
  const workload = params.get("workload") ?? "";
  const customer = params.get("customer") ?? "";
  return {
    status: oneOf(params.get("status"), STATUSES),
    agent: oneOf(params.get("agent"), AGENTS),
    workload: IDENTIFIER.test(workload) ? workload : "",
    customer: IDENTIFIER.test(customer) ? customer : "",
    risk: oneOf(params.get("risk"), RISKS),
  };
}

/** The URL search params after changing one filter (paging restarts at the first page). */
export function withFilter(params: URLSearchParams, name: (typeof FILTER_PARAMS)[number], value: string): URLSearchParams {
  const next = new URLSearchParams(params);
  if (value) next.set(name, value);
  else next.delete(name);
  next.delete("offset");
  return next;
}

export interface RecommendationQuery {
  status?: RecommendationStatus;
  agent?: AgentKind;
  workload_id?: string;
  customer_id?: string;
  risk_level?: RiskLevel;
  limit: number;
  offset: number;
}

/** The query of GET /v1/recommendations for these filters and page. */
export function toApiQuery(filters: RecommendationFilters, paging: { limit: number; offset: number }): RecommendationQuery {
  const query: RecommendationQuery = { limit: paging.limit, offset: paging.offset };
  if (filters.status) query.status = filters.status;
  if (filters.agent) query.agent = filters.agent;
  if (filters.workload) query.workload_id = filters.workload;
  if (filters.customer) query.customer_id = filters.customer;
  if (filters.risk) query.risk_level = filters.risk;
  return query;
}
