import { describe, expect, it } from "vitest";
import { getCredential, setCredential, takeSignOutNotice } from "../auth/credential";
import { mockFetch, requestOf } from "../test/render";
import { api, apiFetch, buildPath, unwrap } from "./client";
import { ApiError, detailMessage, errorText } from "./errors";

const PAGE = { items: [], total: 0, limit: 1, offset: 0 };

describe("API client", () => {
  it("sends the stored credential as a bearer token", async () => {
    setCredential("key-123");
    const fetchMock = mockFetch([{ path: "/v1/recommendations", body: PAGE }]);
    const page = await unwrap(api.GET("/v1/recommendations", { params: { query: { limit: 1, status: "pending_approval" } } }));
    expect(page.total).toBe(0);
    const request = requestOf(fetchMock);
    expect(request.headers.get("Authorization")).toBe("Bearer key-123");
    expect(new URL(request.url).search).toBe("?limit=1&status=pending_approval");
  });

  it("apiFetch sends the credential too, and JSON bodies", async () => {
    setCredential("key-9");
    const fetchMock = mockFetch([{ method: "POST", path: "/v1/recommendations/r1/approve", status: 202, body: { decision: "approve" } }]);
    await apiFetch("/v1/recommendations/r1/approve", { method: "POST", body: { reason: "ok" } });
    const request = requestOf(fetchMock);
    expect(request.headers.get("Authorization")).toBe("Bearer key-9");
    expect(request.headers.get("Content-Type")).toBe("application/json");
    expect(await request.json()).toEqual({ reason: "ok" });
  });

  it("sends no Authorization header without a credential", async () => {
    const fetchMock = mockFetch([{ path: "/v1/auth/oidc", body: { issuer: "x", client_id: "y", scopes: "openid" } }]);
    await apiFetch("/v1/auth/oidc", { query: { customer_id: "demo" }, anonymous: true });
    expect(requestOf(fetchMock).headers.has("Authorization")).toBe(false);
  });

  it("signs out on 401 and leaves a notice for the sign-in page", async () => {
    setCredential("stale");
    mockFetch([{ path: "/v1/workloads", status: 401, body: { detail: "unknown API key" } }]);
    const failure = await unwrap(api.GET("/v1/workloads")).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ApiError);
    expect((failure as ApiError).status).toBe(401);
    expect((failure as ApiError).message).toBe("unknown API key");
    expect(getCredential()).toBeNull();
    expect(takeSignOutNotice()).toMatch(/sign in again/i);
  });

  it("apiFetch signs out on 401 as well", async () => {
    setCredential("stale");
    mockFetch([{ path: "/v1/session", status: 401, body: { detail: "expired" } }]);
    await expect(apiFetch("/v1/session")).rejects.toThrow("expired");
    expect(getCredential()).toBeNull();
  });

  it("does not sign out when checking a candidate credential", async () => {
    setCredential("good");
    mockFetch([{ path: "/v1/session", status: 401, body: { detail: "unknown API key" } }]);
    await expect(apiFetch("/v1/session", { credential: "bad" })).rejects.toThrow("unknown API key");
    expect(getCredential()).toBe("good");
  });

  it("surfaces the detail of error bodies", async () => {
    setCredential("k");
    mockFetch([
      {
        method: "POST",
        path: "/v1/recommendations/r1/approve",
        status: 409,
        body: { detail: "r1 already approved by alice at 2026-05-04T10:00:00Z: looks fine" },
      },
    ]);
    const failure = await unwrap(
      api.POST("/v1/recommendations/{recommendation_id}/approve", {
        params: { path: { recommendation_id: "r1" } },
        body: { reason: "me too" },
      }),
    ).then(
      () => null,
      (error: unknown) => error as ApiError,
    );
    expect(failure?.status).toBe(409);
    expect(failure?.message).toBe("r1 already approved by alice at 2026-05-04T10:00:00Z: looks fine");
    expect(getCredential()).toBe("k");
  });
});

describe("detailMessage", () => {
  it("reads string details, validation lists and falls back to the status", () => {
    expect(detailMessage({ detail: "no recommendation x" }, 404)).toBe("no recommendation x");
    expect(
      detailMessage({ detail: [{ loc: ["body", "reason"], msg: "String should have at least 1 character" }] }, 422),
    ).toBe("reason: String should have at least 1 character");
    expect(detailMessage(null, 502, "Bad Gateway")).toBe("Request failed (502 Bad Gateway)");
    expect(detailMessage("upstream down", 503)).toBe("upstream down");
  });

  it("phrases 403 as not allowed", () => {
    expect(errorText(new ApiError(403, "needs the approver role"))).toBe("Not allowed: needs the approver role");
  });

  it("builds query strings without empty values", () => {
    expect(buildPath("/v1/x", { a: "1", b: "", c: undefined, d: null, e: 0 })).toBe("/v1/x?a=1&e=0");
    expect(buildPath("/v1/x")).toBe("/v1/x");
  });
});
