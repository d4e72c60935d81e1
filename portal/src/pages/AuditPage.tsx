import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { api, unwrap } from "../api/client";
import type { AuditEntry } from "../api/types";
import { useSession } from "../auth/SessionContext";
import { Button } from "../components/Button";
import { ErrorAlert } from "../components/ErrorAlert";
import { SelectField, TextField } from "../components/Field";
import { Loading } from "../components/Loading";
import { PageHeading } from "../components/PageHeading";
import { Pager, Table, type Column } from "../components/Table";
import { formatDateTime } from "../lib/format";
import { usePaging } from "../lib/paging";
import { POLL } from "../lib/queryClient";
import { diffFields, showValue } from "./audit/diff";
import { customerOptions, useCustomers } from "./settings/customers";

const PAGE_SIZE = 50;
const TEXT_FILTERS = ["actor", "action", "subject"] as const;
const TIME_FILTERS = ["since", "until"] as const;
type FilterName = "customer" | (typeof TEXT_FILTERS)[number] | (typeof TIME_FILTERS)[number];
type Filters = Record<FilterName, string>;

const LABELS: Record<FilterName, string> = {
  customer: "Customer",
  actor: "Who",
  action: "Action",
  subject: "Subject",
  since: "From (UTC)",
  until: "Until (UTC)",
};

const HINTS: Partial<Record<FilterName, string>> = {
  actor: "A principal's name, e.g. platform-token",
  action: "e.g. recommendation.approved",
  subject: "e.g. a recommendation id or schedule:nightly",
};

const LOCAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/;

function filtersFrom(params: URLSearchParams): Filters {
  const value = (name: FilterName) => params.get(name) ?? "";
  return {
    customer: value("customer"),
    actor: value("actor"),
    action: value("action"),
    subject: value("subject"),
    since: LOCAL_TIME.test(value("since")) ? value("since") : "",
    until: LOCAL_TIME.test(value("until")) ? value("until") : "",
  };
}

/** A datetime-local value read as UTC: "2026-12-01T08:00" → "2026-12-01T08:00:00Z". */
export function utcIso(local: string): string {
  return local.length === 16 ? `${local}:00Z` : `${local}Z`;
}

function auditQuery(filters: Filters, ownCustomer: string | null, paging: { limit: number; offset: number }) {
  const query: {
    limit: number;
    offset: number;
    customer_id?: string;
    actor?: string;
    action?: string;
    subject?: string;
    since?: string;
    until?: string;
  } = { ...paging };
  const customer = ownCustomer ?? filters.customer;
  if (customer) query.customer_id = customer;
  for (const name of TEXT_FILTERS) if (filters[name].trim()) query[name] = filters[name].trim();
  for (const name of TIME_FILTERS) if (filters[name]) query[name] = utcIso(filters[name]);
  return query;
}

function subjectLink(entry: AuditEntry) {
  if (entry.action.startsWith("recommendation.")) {
    return (
      <Link to={`/recommendations/${encodeURIComponent(entry.subject)}`} className="font-mono text-xs text-blue-800 underline">
        {entry.subject}
      </Link>
    );
  }
  if (/^(workload\.|optimization\.started|joint_optimization\.started)/.test(entry.action) && /^[a-z0-9-]+\/[a-z0-9-]+$/.test(entry.subject)) {
    const [customer, workload] = entry.subject.split("/");
    return (
      <Link to={`/workloads/${customer}/${workload}`} className="font-mono text-xs text-blue-800 underline">
        {entry.subject}
      </Link>
    );
  }
  return <span className="break-all font-mono text-xs">{entry.subject}</span>;
}

function Changes({ entry }: { entry: AuditEntry }) {
  const hasDetail = entry.detail && Object.keys(entry.detail).length > 0;
  const hasState = entry.before != null || entry.after != null;
  if (!hasDetail && !hasState) return <span className="text-slate-700">—</span>;
  const changes = hasState ? diffFields(entry.before, entry.after) : [];
  const verb = entry.before == null ? "created" : entry.after == null ? "removed" : "changed";
  return (
    <div className="space-y-1">
      {hasDetail ? (
        <ul className="text-xs text-slate-800">
          {Object.entries(entry.detail).map(([key, value]) => (
            <li key={key}>
              <span className="font-medium">{key}:</span> <span className="break-all">{showValue(value)}</span>
            </li>
          ))}
        </ul>
      ) : null}
      {hasState ? (
        <details>
          <summary className="cursor-pointer text-xs font-medium text-blue-800 underline">
            {changes.length} {changes.length === 1 ? "field" : "fields"} {verb}
          </summary>
          {changes.length === 0 ? (
            <p className="text-xs text-slate-700">Before and after are the same.</p>
          ) : (
            <table className="mt-1 text-xs">
              <caption className="sr-only">Before and after of audit entry {entry.id}</caption>
              <thead>
                <tr>
                  <th scope="col" className="pr-3 text-left font-semibold text-slate-800">
                    Field
                  </th>
                  <th scope="col" className="pr-3 text-left font-semibold text-slate-800">
                    Before
                  </th>
                  <th scope="col" className="text-left font-semibold text-slate-800">
                    After
                  </th>
                </tr>
              </thead>
              <tbody>
                {changes.map((change) => (
                  <tr key={change.path}>
                    <th scope="row" className="pr-3 text-left font-mono font-normal text-slate-800">
                      {change.path}
                    </th>
                    <td className="break-all pr-3 font-mono text-red-800">{showValue(change.before)}</td>
                    <td className="break-all font-mono text-green-800">{showValue(change.after)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </details>
      ) : null}
    </div>
  );
}

export function AuditPage() {
  const { session } = useSession();
  const ownCustomer = session?.principal.customer_id ?? null;
  const [params, setParams] = useSearchParams();
  const applied = filtersFrom(params);
  const [draft, setDraft] = useState<Filters>(applied);
  const paramsText = params.toString();
  // Back/forward changes the URL: show its filters in the form again.
  useEffect(() => setDraft(filtersFrom(new URLSearchParams(paramsText))), [paramsText]);
  const { limit, offset, setOffset } = usePaging(PAGE_SIZE);
  const customers = useCustomers(ownCustomer === null);

  const query = auditQuery(applied, ownCustomer, { limit, offset });
  const list = useQuery({
    queryKey: ["audit", query],
    queryFn: ({ signal }) => unwrap(api.GET("/v1/audit", { params: { query }, signal })),
    placeholderData: keepPreviousData,
    refetchInterval: POLL.list,
  });

  const apply = (next: Filters) => {
    const updated = new URLSearchParams();
    // Filters restart the paging.
    for (const [name, value] of Object.entries(next)) if (value.trim()) updated.set(name, value.trim());
    setParams(updated);
  };

  const columns: Column<AuditEntry>[] = [
    { header: "When", cell: (entry) => <span className="whitespace-nowrap">{formatDateTime(entry.at)}</span> },
    { header: "Who", cell: (entry) => <span className="break-all">{entry.actor}</span> },
    { header: "What", cell: (entry) => <span className="font-mono text-xs">{entry.action}</span> },
    { header: "Subject", cell: subjectLink },
    ...(ownCustomer === null
      ? [{ header: "Customer", cell: (entry: AuditEntry) => entry.customer_id ?? <span className="text-slate-700">platform</span> }]
      : []),
    { header: "Details and changes", cell: (entry) => <Changes entry={entry} /> },
  ];

  return (
    <>
      <PageHeading>Audit log</PageHeading>
      <form
        aria-label="Filters"
        className="mb-4 grid grid-cols-1 gap-3 rounded-lg border border-slate-200 bg-white p-4 sm:grid-cols-2 lg:grid-cols-3"
        onSubmit={(event) => {
          event.preventDefault();
          apply(draft);
        }}
      >
        {ownCustomer === null ? (
          <SelectField
            label={LABELS.customer}
            options={customerOptions(customers.data?.items, { value: "", label: "All, the platform's own too" })}
            value={draft.customer}
            onChange={(event) => {
              const next = { ...draft, customer: event.target.value };
              setDraft(next);
              apply(next);
            }}
          />
        ) : null}
        {TEXT_FILTERS.map((name) => (
          <TextField
            key={name}
            label={LABELS[name]}
            hint={HINTS[name]}
            value={draft[name]}
            maxLength={255}
            autoComplete="off"
            onChange={(event) => setDraft({ ...draft, [name]: event.target.value })}
          />
        ))}
        {TIME_FILTERS.map((name) => (
          <TextField
            key={name}
            label={LABELS[name]}
            type="datetime-local"
            value={draft[name]}
            onChange={(event) => setDraft({ ...draft, [name]: event.target.value })}
          />
        ))}
        <div className="flex items-end gap-2">
          <Button type="submit" variant="primary">
            Apply filters
          </Button>
          <Button
            onClick={() => {
              const cleared = { customer: "", actor: "", action: "", subject: "", since: "", until: "" };
              setDraft(cleared);
              apply(cleared);
            }}
          >
            Clear filters
          </Button>
        </div>
      </form>
      <ErrorAlert error={list.error} prefix="Could not load the audit log:" />
      {list.isPending ? (
        <Loading />
      ) : list.data ? (
        <div className="rounded-lg border border-slate-200 bg-white p-2 shadow-sm">
          <p className="px-3 pt-2 text-sm text-slate-700">Newest first.</p>
          <Table caption="Audit log" columns={columns} rows={list.data.items} rowKey={(entry) => String(entry.id)} empty="No audit entries match." />
          <Pager offset={offset} limit={limit} total={list.data.total} onOffsetChange={setOffset} />
        </div>
      ) : null}
    </>
  );
}
