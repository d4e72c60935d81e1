// A customer's OIDC identity provider (admins): GET (404: none), PUT, DELETE with confirmation.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { api, unwrap, type Schemas } from "../../api/client";
import { isApiError } from "../../api/errors";
import type { Role } from "../../api/types";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { ErrorAlert, StatusMessage } from "../../components/ErrorAlert";
import { SelectField, TextField } from "../../components/Field";
import { Loading } from "../../components/Loading";
import { ConfirmDialog } from "../../components/ConfirmDialog";

type Provider = Schemas["IdentityProvider"];

interface Draft {
  issuer: string;
  audience: string;
  jwksUrl: string;
  roleClaim: string;
  defaultRole: Role | "";
}

const EMPTY: Draft = { issuer: "", audience: "", jwksUrl: "", roleClaim: "optiinfra_role", defaultRole: "" };

function draftOf(provider: Provider | null): Draft {
  if (!provider) return EMPTY;
  return {
    issuer: provider.issuer,
    audience: provider.audience,
    jwksUrl: provider.jwks_url,
    roleClaim: provider.role_claim ?? "optiinfra_role",
    defaultRole: provider.default_role ?? "",
  };
}

const ROLE_OPTIONS = [
  { value: "", label: "None: refuse tokens without the claim" },
  ...(["viewer", "approver", "operator", "admin"] as const).map((value) => ({ value, label: value })),
];

export function IdentityProviderCard({ customerId }: { customerId: string }) {
  const queryClient = useQueryClient();
  const queryKey = ["customers", customerId, "identity-provider"];
  const found = useQuery({
    queryKey,
    queryFn: async ({ signal }): Promise<Provider | null> => {
      try {
        return await unwrap(
          api.GET("/v1/customers/{customer_id}/identity-provider", { params: { path: { customer_id: customerId } }, signal }),
        );
      } catch (error) {
        if (isApiError(error, 404)) return null;
        throw error;
      }
    },
  });
  const provider = found.data ?? null;
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [confirming, setConfirming] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const loadedKey = JSON.stringify(found.data ?? null);
  useEffect(() => setDraft(draftOf(JSON.parse(loadedKey) as Provider | null)), [loadedKey]);

  const save = useMutation({
    mutationFn: (body: Schemas["IdentityProviderBody"]) =>
      unwrap(api.PUT("/v1/customers/{customer_id}/identity-provider", { params: { path: { customer_id: customerId } }, body })),
    onSuccess: (saved) => {
      remove.reset();
      queryClient.setQueryData(queryKey, saved);
      void queryClient.invalidateQueries({ queryKey: ["audit"] });
    },
  });
  const remove = useMutation({
    mutationFn: () =>
      unwrap(api.DELETE("/v1/customers/{customer_id}/identity-provider", { params: { path: { customer_id: customerId } } })),
    onSuccess: () => {
      setConfirming(false);
      save.reset();
      queryClient.setQueryData(queryKey, null);
      void queryClient.invalidateQueries({ queryKey: ["audit"] });
    },
  });

  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    if (!draft.issuer.trim() || !draft.audience.trim() || !draft.jwksUrl.trim()) {
      setProblem("Give the issuer, the audience and the JWKS URL.");
      save.reset();
      return;
    }
    setProblem(null);
    save.mutate({
      issuer: draft.issuer.trim(),
      audience: draft.audience.trim(),
      jwks_url: draft.jwksUrl.trim(),
      role_claim: draft.roleClaim.trim() || "optiinfra_role",
      default_role: draft.defaultRole || null,
    });
  };

  return (
    <Card title="Identity provider">
      <p className="mb-3 text-sm text-slate-700">
        People sign in with SSO: bearer tokens from this issuer for this audience act for{" "}
        <span className="font-mono">{customerId}</span> with the role in the role claim.
      </p>
      {found.isPending ? (
        <Loading />
      ) : found.error ? (
        <ErrorAlert error={found.error} prefix="Could not load the identity provider:" />
      ) : (
        <>
          <p className="mb-3 text-sm text-slate-900">{provider ? "An identity provider is registered." : "No identity provider is registered."}</p>
          <form aria-label="Identity provider" onSubmit={submit} noValidate className="grid gap-3 md:grid-cols-2">
            <TextField label="Issuer" value={draft.issuer} maxLength={512} onChange={(event) => setDraft({ ...draft, issuer: event.target.value })} hint="The tokens' iss, exactly." />
            <TextField label="Audience" value={draft.audience} maxLength={255} onChange={(event) => setDraft({ ...draft, audience: event.target.value })} hint="The aud the tokens carry (the portal's client id)." />
            <TextField label="JWKS URL" type="url" value={draft.jwksUrl} maxLength={2000} onChange={(event) => setDraft({ ...draft, jwksUrl: event.target.value })} hint="Where the provider publishes its signing keys." />
            <TextField label="Role claim" value={draft.roleClaim} maxLength={64} onChange={(event) => setDraft({ ...draft, roleClaim: event.target.value })} />
            <SelectField label="Default role" options={ROLE_OPTIONS} value={draft.defaultRole} onChange={(event) => setDraft({ ...draft, defaultRole: event.target.value as Draft["defaultRole"] })} />
            <div className="md:col-span-2">
              <ErrorAlert error={problem ?? save.error} prefix="Could not save the identity provider:" />
              {!confirming ? <ErrorAlert error={remove.error} prefix="Could not remove the identity provider:" /> : null}
              {save.isSuccess ? <StatusMessage>Saved the identity provider of {customerId}.</StatusMessage> : null}
              {remove.isSuccess ? <StatusMessage>Removed the identity provider of {customerId}.</StatusMessage> : null}
              <div className="flex gap-2">
                <Button type="submit" variant="primary" disabled={save.isPending}>
                  Save identity provider
                </Button>
                {provider ? (
                  <Button variant="danger" onClick={() => setConfirming(true)}>
                    Remove identity provider
                  </Button>
                ) : null}
              </div>
            </div>
          </form>
        </>
      )}
      <ConfirmDialog
        open={confirming}
        title="Remove the identity provider?"
        confirmLabel="Remove"
        busy={remove.isPending}
        onCancel={() => {
          setConfirming(false);
          remove.reset();
        }}
        onConfirm={() => remove.mutate()}
      >
        <p>Tokens from {provider?.issuer ?? "this issuer"} stop working for {customerId} at once.</p>
        {confirming ? <ErrorAlert error={remove.error} /> : null}
      </ConfirmDialog>
    </Card>
  );
}
