import { useQuery } from "@tanstack/react-query";
import { createContext, useContext, type ReactNode } from "react";
import { apiFetch } from "../api/client";
import type { Role, SessionInfo } from "../api/types";
import { can } from "../lib/roles";
import { clearCredential, useCredential } from "./credential";

export interface SessionState {
  /** null while loading or signed out */
  session: SessionInfo | null;
  loading: boolean;
  error: unknown;
  signOut: () => void;
}

export const SessionContext = createContext<SessionState>({
  session: null,
  loading: false,
  error: null,
  signOut: () => clearCredential(),
});

export const SESSION_QUERY_KEY = ["session"] as const;

/** Loads GET /v1/session while a credential is present. */
export function SessionProvider({ children }: { children: ReactNode }) {
  const credential = useCredential();
  const query = useQuery({
    queryKey: [...SESSION_QUERY_KEY, credential],
    queryFn: ({ signal }) => apiFetch<SessionInfo>("/v1/session", { signal }),
    enabled: credential !== null,
    staleTime: 5 * 60_000,
    retry: false,
  });
  const value: SessionState = {
    session: credential ? (query.data ?? null) : null,
    loading: credential !== null && query.isPending,
    error: query.error,
    signOut: () => clearCredential(),
  };
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionState {
  return useContext(SessionContext);
}

/** The signed-in principal's role (null while unknown). */
export function useRole(): Role | null {
  return useSession().session?.principal.role ?? null;
}

/** Whether the signed-in principal's role includes `needed`. */
export function useCan(needed: Role): boolean {
  return can(useRole(), needed);
}

/** Link to a workflow in the Temporal UI, or null when the API did not say where that UI is. */
export function useTemporalLink(workflowId: string | null | undefined): string | null {
  const session = useSession().session;
  if (!session?.temporal_ui_url || !workflowId) return null;
  const base = session.temporal_ui_url.replace(/\/+$/, "");
  return `${base}/namespaces/${encodeURIComponent(session.temporal_namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
