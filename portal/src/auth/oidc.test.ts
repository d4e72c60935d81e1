import { describe, expect, it } from "vitest";
import { mockFetch, requestOf } from "../test/render";
import { getCredential } from "./credential";
import { completeSso } from "./oidc";

const PENDING = {
  state: "st",
  nonce: "n",
  verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
  tokenEndpoint: "http://idp.test/token",
  clientId: "portal",
  redirectUri: "http://localhost/auth/callback",
  customerId: "demo",
  returnTo: "/recommendations",
};

describe("completeSso", () => {
  it("exchanges the code with the verifier and keeps the id_token", async () => {
    window.sessionStorage.setItem("optiinfra.oidc-pending", JSON.stringify(PENDING));
    const fetchMock = mockFetch([{ method: "POST", path: "/token", body: { id_token: "eyJ.id.token", access_token: "a" } }]);
    expect(await completeSso("?code=abc&state=st")).toBe("/recommendations");
    const request = requestOf(fetchMock);
    const form = new URLSearchParams(await request.text());
    expect(Object.fromEntries(form)).toEqual({
      grant_type: "authorization_code",
      code: "abc",
      redirect_uri: "http://localhost/auth/callback",
      client_id: "portal",
      code_verifier: PENDING.verifier,
    });
    expect(getCredential()).toBe("eyJ.id.token");
    expect(window.sessionStorage.getItem("optiinfra.oidc-pending")).toBeNull();
  });

  it("refuses an answer whose state does not match", async () => {
    window.sessionStorage.setItem("optiinfra.oidc-pending", JSON.stringify(PENDING));
    mockFetch([]);
    await expect(completeSso("?code=abc&state=other")).rejects.toThrow(/state/);
    expect(getCredential()).toBeNull();
  });

  it("reports the provider's error", async () => {
    await expect(completeSso("?error=access_denied&error_description=nope")).rejects.toThrow("nope");
  });
});
