import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { base64url, codeChallenge, createCodeVerifier } from "./pkce";

describe("PKCE", () => {
  it("matches RFC 7636's example (appendix B)", async () => {
    expect(await codeChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")).toBe(
      "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    );
  });

  it("is base64url(sha256(verifier)) for random verifiers", async () => {
    const verifier = createCodeVerifier();
    expect(verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const expected = createHash("sha256").update(verifier).digest("base64url");
    expect(await codeChallenge(verifier)).toBe(expected);
    expect(createCodeVerifier()).not.toBe(verifier);
  });

  it("encodes base64url without padding", () => {
    expect(base64url(new Uint8Array([251, 255, 191]))).toBe("-_-_");
    expect(base64url(new Uint8Array([1]))).toBe("AQ");
  });
});
