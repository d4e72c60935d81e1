import { useState, type FormEvent } from "react";
import { Navigate, useLocation, useNavigate } from "react-router";
import { apiFetch } from "../api/client";
import { isApiError } from "../api/errors";
import type { SessionInfo } from "../api/types";
import { setCredential, takeSignOutNotice, useCredential } from "../auth/credential";
import { beginSso } from "../auth/oidc";
import { Button } from "../components/Button";
import { ErrorAlert } from "../components/ErrorAlert";
import { TextField } from "../components/Field";
import { PageHeading } from "../components/PageHeading";

/** Checks a credential against the API before keeping it. */
async function checkCredential(credential: string): Promise<void> {
  try {
    await apiFetch<SessionInfo>("/v1/session", { credential });
  } catch (error) {
    // An API without /v1/session yet: any authenticated list proves the credential.
    if (isApiError(error, 404)) {
      await apiFetch("/v1/recommendations", { credential, query: { limit: 1 } });
      return;
    }
    throw error;
  }
}

export function SignInPage() {
  const credential = useCredential();
  const navigate = useNavigate();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from ?? "/";
  const [notice] = useState(() => takeSignOutNotice());
  const [apiKey, setApiKey] = useState("");
  const [customer, setCustomer] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<"key" | "sso" | null>(null);

  if (credential && busy === null) return <Navigate to={from} replace />;

  async function signInWithKey(event: FormEvent) {
    event.preventDefault();
    const key = apiKey.trim();
    if (!key) {
      setError("Enter an API key.");
      return;
    }
    setBusy("key");
    setError(null);
    try {
      await checkCredential(key);
      setCredential(key);
      navigate(from, { replace: true });
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(null);
    }
  }

  async function signInWithSso(event: FormEvent) {
    event.preventDefault();
    const customerId = customer.trim();
    if (!customerId) {
      setError("Enter the customer whose identity provider you sign in with.");
      return;
    }
    setBusy("sso");
    setError(null);
    try {
      window.location.assign(await beginSso(customerId, from));
    } catch (failure) {
      setError(failure);
      setBusy(null);
    }
  }

  return (
    <div className="flex min-h-screen items-start justify-center bg-slate-50 px-4 pt-16">
      <main className="w-full max-w-md rounded-lg border border-slate-200 bg-white p-6 shadow-sm">
        <PageHeading>Sign in to OptiInfra</PageHeading>
        {notice ? <p className="mb-3 rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-900">{notice}</p> : null}
        <ErrorAlert error={error} />
        <form onSubmit={signInWithKey} className="space-y-3" aria-labelledby="key-heading">
          <h2 id="key-heading" className="text-base font-semibold text-slate-900">
            With an API key
          </h2>
          <TextField
            label="API key"
            name="api-key"
            inputClassName="masked"
            autoComplete="off"
            spellCheck={false}
            value={apiKey}
            onChange={(event) => setApiKey(event.target.value)}
            hint="An API key or platform token. It is kept in this browser tab only."
          />
          <Button type="submit" variant="primary" disabled={busy !== null}>
            Sign in
          </Button>
        </form>
        <hr className="my-6 border-slate-200" />
        <form onSubmit={signInWithSso} className="space-y-3" aria-labelledby="sso-heading">
          <h2 id="sso-heading" className="text-base font-semibold text-slate-900">
            With your identity provider
          </h2>
          <TextField
            label="Customer"
            name="customer"
            autoComplete="organization"
            spellCheck={false}
            value={customer}
            onChange={(event) => setCustomer(event.target.value)}
            hint="The customer id, e.g. demo."
          />
          <Button type="submit" disabled={busy !== null}>
            Sign in with SSO
          </Button>
        </form>
      </main>
    </div>
  );
}
