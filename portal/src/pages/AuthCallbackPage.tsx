import { useEffect, useRef, useState } from "react";
import { Link, useLocation, useNavigate } from "react-router";
import { completeSso } from "../auth/oidc";
import { ErrorAlert } from "../components/ErrorAlert";
import { Loading } from "../components/Loading";

/** /auth/callback: the identity provider's redirect with ?code=…&state=…. */
export function AuthCallbackPage() {
  const location = useLocation();
  const navigate = useNavigate();
  const [error, setError] = useState<unknown>(null);
  const started = useRef(false);

  useEffect(() => {
    if (started.current) return;
    started.current = true;
    completeSso(location.search)
      .then((returnTo) => navigate(returnTo, { replace: true }))
      .catch(setError);
  }, [location.search, navigate]);

  return (
    <main className="mx-auto max-w-md px-4 pt-16">
      <h1 className="mb-4 text-2xl font-semibold text-slate-900">Signing in…</h1>
      {error ? (
        <>
          <ErrorAlert error={error} />
          <Link to="/sign-in" className="text-blue-800 underline">
            Back to sign-in
          </Link>
        </>
      ) : (
        <Loading label="Finishing the sign-in with your identity provider…" />
      )}
    </main>
  );
}
