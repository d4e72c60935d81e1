// PKCE (RFC 7636) helpers for the OIDC authorization-code flow.

export function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A random URL-safe string of `byteLength` random bytes (32 bytes → 43 characters). */
export function randomToken(byteLength = 32): string {
  const bytes = new Uint8Array(byteLength);
  crypto.getRandomValues(bytes);
  return base64url(bytes);
}

/** A code verifier: 43–128 characters of [A-Za-z0-9-._~]. */
export function createCodeVerifier(): string {
  return randomToken(32);
}

/** The S256 code challenge: base64url(sha256(ascii(verifier))). */
export async function codeChallenge(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}
