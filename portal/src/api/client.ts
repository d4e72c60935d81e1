// The typed API client: openapi-fetch over the generated `paths`, plus `apiFetch` for any path.
// Every request carries `Authorization: Bearer <credential>` from sessionStorage; a 401 answer to a
// signed-in request signs out (the router then shows /sign-in).
import createClient, { type Middleware } from "openapi-fetch";
import { clearCredential, getCredential } from "../auth/credential";
import { ApiError, detailMessage } from "./errors";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

const SESSION_ENDED = "Your session ended or your credential was refused. Sign in again.";

function origin(): string {
  return typeof window !== "undefined" && window.location ? window.location.origin : "http://localhost";
}

function withAuth(headers: Headers): void {
  const credential = getCredential();
  if (credential && !headers.has("Authorization")) headers.set("Authorization", `Bearer ${credential}`);
}

function onUnauthorized(request: Request | string): void {
  const hadCredential = request instanceof Request ? request.headers.has("Authorization") : true;
  if (hadCredential && getCredential()) clearCredential(SESSION_ENDED);
}

const authMiddleware: Middleware = {
  onRequest({ request }) {
    withAuth(request.headers);
    return request;
  },
  onResponse({ request, response }) {
    if (response.status === 401) onUnauthorized(request);
    return response;
  },
};

/** openapi-fetch client: `api.GET("/v1/recommendations", { params: { query } })`. Wrap with `unwrap`. */
export const api = createClient<paths>({
  baseUrl: origin(),
  // Look fetch up on each call, so tests can stub it.
  fetch: (request: Request) => globalThis.fetch(request),
});
api.use(authMiddleware);

interface FetchResult<D> {
  data?: D;
  error?: unknown;
  response: Response;
}

/** The data of an openapi-fetch answer, or throws ApiError with the server's `detail` message. */
export async function unwrap<D>(pending: Promise<FetchResult<D>>): Promise<NonNullable<D>> {
  const { data, error, response } = await pending;
  if (!response.ok) {
    throw new ApiError(response.status, detailMessage(error, response.status, response.statusText), error);
  }
  return data as NonNullable<D>;
}

export interface ApiFetchOptions {
  method?: "GET" | "POST" | "PUT" | "DELETE";
  query?: Record<string, string | number | boolean | null | undefined>;
  body?: unknown;
  /** Send without the credential (e.g. the OIDC discovery of /v1/auth/oidc). */
  anonymous?: boolean;
  /** Use this credential instead of the stored one (checking a key before keeping it). */
  credential?: string;
  signal?: AbortSignal;
}

/** Builds "/v1/x?a=1" leaving out empty values. */
export function buildPath(path: string, query?: ApiFetchOptions["query"]): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** A JSON call to any API path (for routes not yet in schema.d.ts); throws ApiError on non-2xx. */
export async function apiFetch<T>(path: string, options: ApiFetchOptions = {}): Promise<T> {
  const headers = new Headers({ Accept: "application/json" });
  if (options.credential) headers.set("Authorization", `Bearer ${options.credential}`);
  else if (!options.anonymous) withAuth(headers);
  const init: RequestInit = { method: options.method ?? "GET", headers, signal: options.signal };
  if (options.body !== undefined) {
    headers.set("Content-Type", "application/json");
    init.body = JSON.stringify(options.body);
  }
  const response = await globalThis.fetch(new Request(new URL(buildPath(path, options.query), origin()), init));
  const text = await response.text();
  let body: unknown = undefined;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  if (response.status === 401 && !options.anonymous && !options.credential) onUnauthorized(new Request(origin(), { headers }));
  if (!response.ok) throw new ApiError(response.status, detailMessage(body, response.status, response.statusText), body);
  return body as T;
}
