// OIDC sign-in with PKCE in the browser: /v1/auth/oidc says which provider; the id_token becomes the
// bearer credential.
import { apiFetch } from "../api/client";
import { ApiError, isApiError } from "../api/errors";
import type { OidcClientConfig } from "../api/types";
import { setCredential } from "./credential";
import { codeChallenge, createCodeVerifier, randomToken } from "./pkce";

const PENDING_KEY = "optiinfra.oidc-pending";

interface PendingSignIn {
  state: string;
  nonce: string;
  verifier: string;
  tokenEndpoint: string;
  clientId: string;
  redirectUri: string;
  customerId: string;
  returnTo: string;
}

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
}

export function callbackUri(): string {
  return `${window.location.origin}/auth/callback`;
}

/** The authorization URL to send the browser to; keeps what the callback needs in sessionStorage. */
export async function beginSso(customerId: string, returnTo = "/"): Promise<string> {
  let config: OidcClientConfig;
  try {
    config = await apiFetch<OidcClientConfig>("/v1/auth/oidc", {
      query: { customer_id: customerId },
      anonymous: true,
    });
  } catch (error) {
    if (isApiError(error, 404)) {
      throw new ApiError(404, `No identity provider is configured for customer ${customerId}.`);
    }
    throw error;
  }
  const issuer = config.issuer.replace(/\/+$/, "");
  const response = await globalThis.fetch(`${issuer}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`The identity provider's discovery document failed (${response.status}).`);
  const discovery = (await response.json()) as Discovery;
  const verifier = createCodeVerifier();
  const pending: PendingSignIn = {
    state: randomToken(16),
    nonce: randomToken(16),
    verifier,
    tokenEndpoint: discovery.token_endpoint,
    clientId: config.client_id,
    redirectUri: callbackUri(),
    customerId,
    returnTo,
  };
  window.sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const url = new URL(discovery.authorization_endpoint);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", config.client_id);
  url.searchParams.set("redirect_uri", pending.redirectUri);
  url.searchParams.set("scope", config.scopes || "openid");
  url.searchParams.set("state", pending.state);
  url.searchParams.set("nonce", pending.nonce);
  url.searchParams.set("code_challenge", await codeChallenge(verifier));
  url.searchParams.set("code_challenge_method", "S256");
  return url.toString();
}

/** Handles /auth/callback?code=…&state=…: exchanges the code, keeps the id_token; returns where to go. */
export async function completeSso(search: string): Promise<string> {
  const params = new URLSearchParams(search);
  const raw = window.sessionStorage.getItem(PENDING_KEY);
  window.sessionStorage.removeItem(PENDING_KEY);
  const providerError = params.get("error");
  if (providerError) {
    throw new Error(`The identity provider refused the sign-in: ${params.get("error_description") ?? providerError}`);
  }
  if (!raw) throw new Error("No sign-in was in progress in this tab. Start again.");
  const pending = JSON.parse(raw) as PendingSignIn;
  const code = params.get("code");
  if (!code || params.get("state") !== pending.state) {
    throw new Error("The sign-in answer did not match the request (state). Start again.");
  }
  const response = await globalThis.fetch(pending.tokenEndpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: pending.redirectUri,
      client_id: pending.clientId,
      code_verifier: pending.verifier,
    }).toString(),
  });
  const body = (await response.json().catch(() => ({}))) as {
    id_token?: string;
    error?: string;
    error_description?: string;
  };
  if (!response.ok || !body.id_token) {
    throw new Error(
      `The identity provider did not issue an ID token: ${body.error_description ?? body.error ?? response.status}`,
    );
  }
  setCredential(body.id_token);
  return pending.returnTo || "/";
}
