// A customer's API keys (admins): list, create (the secret shown once), revoke with confirmation.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useId, useState } from "react";
import { api, unwrap, type Schemas } from "../../api/client";
import type { ApiKey, Role } from "../../api/types";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { ErrorAlert, StatusMessage } from "../../components/ErrorAlert";
import { SelectField, TextField } from "../../components/Field";
import { Loading } from "../../components/Loading";
import { StatusBadge } from "../../components/StatusBadge";
import { Pager, Table, type Column } from "../../components/Table";
import { formatDateTime } from "../../lib/format";
import { POLL } from "../../lib/queryClient";
import { ConfirmDialog } from "../../components/ConfirmDialog";

const ROLES: readonly Role[] = ["viewer", "approver", "operator", "admin"];
const PAGE_SIZE = 20;

export function keyState(key: ApiKey, now: Date = new Date()): "revoked" | "expired" | "active" {
  if (key.revoked_at) return "revoked";
  if (key.expires_at && new Date(key.expires_at).getTime() <= now.getTime()) return "expired";
  return "active";
}

const STATE_TONE = { active: "green", revoked: "slate", expired: "amber" } as const;

function NewKey({ created, onDone }: { created: Schemas["KeyCreated"]; onDone: () => void }) {
  const [copied, setCopied] = useState<string | null>(null);
  const tokenId = useId();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.token);
      setCopied("Copied.");
    } catch {
      const element = document.getElementById(tokenId);
      if (element) window.getSelection()?.selectAllChildren(element);
      setCopied("Selected: press Ctrl+C (⌘C) to copy.");
    }
  };
  return (
    <StatusMessage>
      <p>
        Created key <strong>{created.key.name}</strong> ({created.key.role}). Copy it now: it is shown this once and never again.
      </p>
      <code id={tokenId} className="my-2 block break-all rounded border border-green-300 bg-white px-2 py-1 font-mono text-sm text-slate-900">
        {created.token}
      </code>
      <div className="flex items-center gap-2">
        <Button onClick={copy}>Copy key</Button>
        <Button onClick={onDone}>Hide key</Button>
        {copied ? <span className="text-sm">{copied}</span> : null}
      </div>
    </StatusMessage>
  );
}

export function ApiKeysCard({ customerId }: { customerId: string }) {
  const queryClient = useQueryClient();
  const prefix = useId();
  const [offset, setOffset] = useState(0);
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [days, setDays] = useState("90");
  const [never, setNever] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [created, setCreated] = useState<Schemas["KeyCreated"] | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const neverId = useId();

  const list = useQuery({
    queryKey: ["api-keys", customerId, { limit: PAGE_SIZE, offset }],
    queryFn: ({ signal }) =>
      unwrap(
        api.GET("/v1/customers/{customer_id}/api-keys", {
          params: { path: { customer_id: customerId }, query: { limit: PAGE_SIZE, offset } },
          signal,
        }),
      ),
    placeholderData: keepPreviousData,
    refetchInterval: POLL.list,
  });

  const create = useMutation({
    mutationFn: (body: Schemas["KeyCreate"]) =>
      unwrap(api.POST("/v1/customers/{customer_id}/api-keys", { params: { path: { customer_id: customerId } }, body })),
    onSuccess: (answer) => {
      setCreated(answer);
      setName("");
      void queryClient.invalidateQueries({ queryKey: ["api-keys", customerId] });
      void queryClient.invalidateQueries({ queryKey: ["audit"] });
    },
  });
  const revoke = useMutation({
    mutationFn: (key: ApiKey) =>
      unwrap(
        api.DELETE("/v1/customers/{customer_id}/api-keys/{key_id}", {
          params: { path: { customer_id: customerId, key_id: key.key_id } },
        }),
      ),
    onSuccess: () => {
      setRevoking(null);
      void queryClient.invalidateQueries({ queryKey: ["api-keys", customerId] });
      void queryClient.invalidateQueries({ queryKey: ["audit"] });
    },
  });

  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    const trimmed = name.trim();
    const expires = Number(days);
    if (!trimmed) {
      setProblem("Give the key a name.");
      create.reset();
      return;
    }
    if (!never && !(Number.isInteger(expires) && expires >= 1 && expires <= 3650)) {
      setProblem("A key expires after 1 to 3650 days (or choose that it never expires).");
      create.reset();
      return;
    }
    setProblem(null);
    setCreated(null);
    create.mutate({ name: trimmed, role, expires_in_days: never ? null : expires });
  };

  const rowId = (key: ApiKey) => `${prefix}-${key.key_id}`;
  const columns: Column<ApiKey>[] = [
    {
      header: "Name",
      cell: (key) => (
        <span id={rowId(key)} className="font-medium">
          {key.name}
        </span>
      ),
    },
    { header: "Role", cell: (key) => key.role },
    { header: "Key id", cell: (key) => <span className="font-mono text-xs">{key.key_id}</span> },
    {
      header: "Created",
      cell: (key) => (
        <div>
          <span className="whitespace-nowrap">{formatDateTime(key.created_at)}</span>
          <div className="text-xs text-slate-700">by {key.created_by}</div>
        </div>
      ),
    },
    { header: "Expires", cell: (key) => <span className="whitespace-nowrap">{key.expires_at ? formatDateTime(key.expires_at) : "never"}</span> },
    {
      header: "State",
      cell: (key) => {
        const state = keyState(key);
        return (
          <div>
            <StatusBadge status={state} tone={STATE_TONE[state]} />
            {key.revoked_at ? <div className="text-xs text-slate-700">{formatDateTime(key.revoked_at)}</div> : null}
          </div>
        );
      },
    },
    {
      header: "Actions",
      cell: (key) =>
        key.revoked_at ? null : (
          <Button variant="danger" aria-describedby={rowId(key)} onClick={() => setRevoking(key)}>
            Revoke
          </Button>
        ),
    },
  ];

  return (
    <Card title="API keys">
      {created ? <NewKey created={created} onDone={() => setCreated(null)} /> : null}
      {revoke.isSuccess && revoke.data ? <StatusMessage>Revoked key {revoke.data.name}.</StatusMessage> : null}
      {!revoking ? <ErrorAlert error={revoke.error} prefix="Could not revoke:" /> : null}
      <ErrorAlert error={list.error} prefix="Could not load the keys:" />
      {list.isPending ? (
        <Loading />
      ) : list.data ? (
        <>
          <Table caption={`API keys of ${customerId}`} columns={columns} rows={list.data.items} rowKey={(key) => key.key_id} empty="No keys yet." />
          {list.data.total > PAGE_SIZE ? <Pager offset={offset} limit={PAGE_SIZE} total={list.data.total} onOffsetChange={setOffset} /> : null}
        </>
      ) : null}
      <form aria-label="New API key" onSubmit={submit} noValidate className="mt-4 grid gap-3 border-t border-slate-200 pt-4 md:grid-cols-4">
        <h3 className="text-sm font-semibold text-slate-900 md:col-span-4">New API key</h3>
        <TextField label="Key name" value={name} maxLength={200} autoComplete="off" onChange={(event) => setName(event.target.value)} />
        <SelectField
          label="Role"
          options={ROLES.map((value) => ({ value, label: value }))}
          value={role}
          onChange={(event) => setRole(event.target.value as Role)}
        />
        <TextField
          label="Expires in (days)"
          type="number"
          min={1}
          max={3650}
          step={1}
          value={days}
          disabled={never}
          onChange={(event) => setDays(event.target.value)}
        />
        <div className="flex items-center gap-2 pt-6">
          <input id={neverId} type="checkbox" className="h-4 w-4" checked={never} onChange={(event) => setNever(event.target.checked)} />
          <label htmlFor={neverId} className="text-sm text-slate-800">
            Never expires
          </label>
        </div>
        <div className="md:col-span-4">
          <ErrorAlert error={problem ?? create.error} prefix="Could not create the key:" />
          <Button type="submit" variant="primary" disabled={create.isPending}>
            Create key
          </Button>
        </div>
      </form>
      <ConfirmDialog
        open={revoking !== null}
        title={`Revoke key ${revoking?.name ?? ""}?`}
        confirmLabel="Revoke key"
        busy={revoke.isPending}
        onCancel={() => {
          setRevoking(null);
          revoke.reset();
        }}
        onConfirm={() => revoking && revoke.mutate(revoking)}
      >
        <p>Requests with this key are refused from now on. This cannot be undone.</p>
        {revoking ? <ErrorAlert error={revoke.error} /> : null}
      </ConfirmDialog>
    </Card>
  );
}
