// Test helpers: render a page with a fresh QueryClient, a MemoryRouter and a given session.
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, type RenderResult } from "@testing-library/react";
import type { ReactElement } from "react";
import { MemoryRouter, Route, Routes } from "react-router";
import { vi } from "vitest";
import type { Role, SessionInfo } from "../api/types";
import { SessionContext } from "../auth/SessionContext";

export function sessionFor(role: Role, name = `${role}-key`): SessionInfo {
  return {
    principal: { name, role, customer_id: null },
    temporal_ui_url: "http://temporal.test:8233",
    temporal_namespace: "default",
  };
}

export interface RenderOptions {
  /** The URL to start at, e.g. "/recommendations/r1". */
  route?: string;
  /** The route pattern the element is mounted at, e.g. "/recommendations/:id". */
  path?: string;
  role?: Role | null;
  session?: SessionInfo | null;
}

export function renderPage(element: ReactElement, options: RenderOptions = {}): RenderResult & { client: QueryClient } {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false }, mutations: { retry: false } } });
  const session = options.session !== undefined ? options.session : options.role ? sessionFor(options.role) : null;
  const result = render(
    <QueryClientProvider client={client}>
      <SessionContext.Provider value={{ session, loading: false, error: null, signOut: () => undefined }}>
        <MemoryRouter initialEntries={[options.route ?? "/"]}>
          <Routes>
            <Route path={options.path ?? "*"} element={element} />
          </Routes>
        </MemoryRouter>
      </SessionContext.Provider>
    </QueryClientProvider>,
  );
  return { ...result, client };
}

export interface MockRoute {
  method?: string;
  /** Matched against the pathname (string: exact; RegExp: test). */
  path: string | RegExp;
  status?: number;
  body?: unknown | ((request: Request) => unknown);
}

/** Stubs global fetch with routes; returns the mock (its calls hold the Requests). Unmatched → 404. */
export function mockFetch(routes: MockRoute[]) {
  const mock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(new URL(String(input), "http://localhost"), init);
    const url = new URL(request.url);
    const route = routes.find(
      (candidate) =>
        (candidate.method ?? "GET") === request.method &&
        (typeof candidate.path === "string" ? candidate.path === url.pathname : candidate.path.test(url.pathname)),
    );
    if (!route) return new Response(JSON.stringify({ detail: `no mock for ${request.method} ${url.pathname}` }), { status: 404 });
    const body = typeof route.body === "function" ? (route.body as (r: Request) => unknown)(request) : route.body;
    return new Response(body === undefined ? null : JSON.stringify(body), {
      status: route.status ?? 200,
      headers: { "Content-Type": "application/json" },
    });
  });
  vi.stubGlobal("fetch", mock);
  return mock;
}

/** The Request of the n-th fetch call. */
export function requestOf(mock: ReturnType<typeof mockFetch>, index = 0): Request {
  const call = mock.mock.calls[index];
  if (!call) throw new Error(`no fetch call ${index}`);
  const [input, init] = call;
  return input instanceof Request ? input : new Request(new URL(String(input), "http://localhost"), init);
}
