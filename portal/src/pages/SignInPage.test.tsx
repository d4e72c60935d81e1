import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { getCredential } from "../auth/credential";
import { mockFetch, renderPage, requestOf } from "../test/render";
import { SignInPage } from "./SignInPage";

const SESSION = {
  principal: { name: "alice", role: "admin", customer_id: "demo" },
  temporal_ui_url: null,
  temporal_namespace: "default",
};

describe("SignInPage", () => {
  it("shows the server's message for a wrong key and keeps nothing", async () => {
    mockFetch([{ path: "/v1/session", status: 401, body: { detail: "unknown API key" } }]);
    renderPage(<SignInPage />, { route: "/sign-in" });
    await userEvent.type(screen.getByRole("textbox", { name: "API key" }), "oik_wrong");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("unknown API key");
    expect(getCredential()).toBeNull();
    expect(window.localStorage.length).toBe(0);
  });

  it("keeps a good key in sessionStorage only", async () => {
    const fetchMock = mockFetch([{ path: "/v1/session", body: SESSION }]);
    renderPage(<SignInPage />, { route: "/sign-in" });
    await userEvent.type(screen.getByRole("textbox", { name: "API key" }), "oik_good{Enter}");
    await vi.waitFor(() => expect(getCredential()).toBe("oik_good"));
    expect(requestOf(fetchMock).headers.get("Authorization")).toBe("Bearer oik_good");
    expect(window.sessionStorage.getItem("optiinfra.credential")).toBe("oik_good");
    expect(window.localStorage.length).toBe(0);
  });

  it("says when a customer has no identity provider", async () => {
    mockFetch([{ path: "/v1/auth/oidc", status: 404, body: { detail: "customer demo has no identity provider" } }]);
    renderPage(<SignInPage />, { route: "/sign-in" });
    await userEvent.type(screen.getByRole("textbox", { name: "Customer" }), "demo");
    await userEvent.click(screen.getByRole("button", { name: "Sign in with SSO" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("No identity provider is configured for customer demo");
  });

  it("redirects to the provider with a PKCE challenge", async () => {
    const assign = vi.fn();
    vi.spyOn(window, "location", "get").mockReturnValue({ ...window.location, origin: "http://localhost", assign } as Location);
    mockFetch([
      { path: "/v1/auth/oidc", body: { issuer: "http://idp.test/realms/demo", client_id: "portal", scopes: "openid profile email" } },
      {
        path: "/realms/demo/.well-known/openid-configuration",
        body: { authorization_endpoint: "http://idp.test/auth", token_endpoint: "http://idp.test/token" },
      },
    ]);
    renderPage(<SignInPage />, { route: "/sign-in" });
    await userEvent.type(screen.getByRole("textbox", { name: "Customer" }), "demo");
    await userEvent.click(screen.getByRole("button", { name: "Sign in with SSO" }));
    await vi.waitFor(() => expect(assign).toHaveBeenCalled());
    const url = new URL(String(assign.mock.calls[0]?.[0]));
    expect(url.origin + url.pathname).toBe("http://idp.test/auth");
    expect(url.searchParams.get("client_id")).toBe("portal");
    expect(url.searchParams.get("redirect_uri")).toBe("http://localhost/auth/callback");
    expect(url.searchParams.get("code_challenge_method")).toBe("S256");
    expect(url.searchParams.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(url.searchParams.get("scope")).toBe("openid profile email");
    const pending = JSON.parse(window.sessionStorage.getItem("optiinfra.oidc-pending") ?? "{}") as { state: string };
    expect(url.searchParams.get("state")).toBe(pending.state);
  });
});
