import { keepPreviousData, useQueries, useQuery } from "@tanstack/react-query";
import { useId } from "react";
import { Link, useSearchParams } from "react-router";
import { api, unwrap } from "../api/client";
import type { RecommendationItem, StoredConflict } from "../api/types";
import { useSession, useTemporalLink } from "../auth/SessionContext";
import { ErrorAlert } from "../components/ErrorAlert";
import { SelectField, type Option } from "../components/Field";
import { Loading } from "../components/Loading";
import { PageHeading } from "../components/PageHeading";
import { StatusBadge } from "../components/StatusBadge";
import { Pager } from "../components/Table";
import { formatDateTime, humanize } from "../lib/format";
import { usePaging } from "../lib/paging";
import { POLL } from "../lib/queryClient";
import { recommendationFor } from "./conflicts/matching";
import { customerOptions, useCustomers } from "./settings/customers";

const PAGE_SIZE = 20;
const IDENTIFIER = /^[a-z0-9][a-z0-9-]{0,62}$/;

function workloadKey(conflict: { customer_id: string; workload_id: string }): string {
  return `${conflict.customer_id}/${conflict.workload_id}`;
}

function Proposal({
  conflict,
  index,
  candidates,
}: {
  conflict: StoredConflict;
  index: number;
  candidates: readonly RecommendationItem[];
}) {
  const agent = conflict.conflict.agents[index]!;
  const title = conflict.conflict.titles[index];
  const found = recommendationFor(conflict, agent, title, candidates);
  const resolution = conflict.resolution;
  const outcome = !resolution ? null : resolution.winner === agent ? "won" : resolution.set_aside.includes(agent) ? "set aside" : null;
  const fallback = `/recommendations?workload=${encodeURIComponent(conflict.workload_id)}&agent=${encodeURIComponent(agent)}`;
  return (
    <li className="flex flex-wrap items-baseline gap-2">
      <span className="font-medium">{humanize(agent)} agent:</span>
      {found ? (
        <Link to={`/recommendations/${encodeURIComponent(found.id)}`} className="text-blue-800 underline">
          {title ?? found.title}
        </Link>
      ) : (
        <>
          <span>{title ?? "(untitled proposal)"}</span>
          <Link to={fallback} className="text-xs text-blue-800 underline">
            {`${humanize(agent)} recommendations of ${conflict.workload_id}`}
          </Link>
        </>
      )}
      {outcome ? <StatusBadge status={outcome} tone={outcome === "won" ? "green" : "slate"} /> : null}
    </li>
  );
}

function ConflictItem({ conflict, candidates }: { conflict: StoredConflict; candidates: readonly RecommendationItem[] }) {
  const temporal = useTemporalLink(conflict.joint_workflow_id);
  const { resolution } = conflict;
  const headingId = useId();
  return (
    <li>
      <article aria-labelledby={headingId} className="rounded-lg border border-slate-200 bg-white p-4 shadow-sm">
        <div className="flex flex-wrap items-baseline justify-between gap-2">
          <h2 id={headingId} className="text-base font-semibold text-slate-900">
            {humanize(conflict.conflict.kind)} on{" "}
            <Link
              to={`/workloads/${encodeURIComponent(conflict.customer_id)}/${encodeURIComponent(conflict.workload_id)}`}
              className="font-mono text-blue-800 underline"
            >
              {workloadKey(conflict)}
            </Link>
          </h2>
          <span className="text-sm text-slate-700">{formatDateTime(conflict.created_at)}</span>
        </div>
        <p className="mt-1 text-sm text-slate-800">{conflict.conflict.description}</p>
        {conflict.conflict.objects && conflict.conflict.objects.length > 0 ? (
          <p className="mt-1 text-xs text-slate-700">
            Both would change: <span className="font-mono">{conflict.conflict.objects.join(", ")}</span>
          </p>
        ) : null}
        <div className="mt-3 grid gap-4 md:grid-cols-2">
          <div>
            <h3 className="text-sm font-semibold text-slate-900">Proposals</h3>
            <ul className="mt-1 space-y-1 text-sm">
              {conflict.conflict.agents.map((agent, index) => (
                <Proposal key={`${agent}-${index}`} conflict={conflict} index={index} candidates={candidates} />
              ))}
            </ul>
          </div>
          <div>
            <h3 className="text-sm font-semibold text-slate-900">Resolution</h3>
            {resolution ? (
              <dl className="mt-1 space-y-1 text-sm">
                <div>
                  <dt className="inline font-medium text-slate-700">Winner: </dt>
                  <dd className="inline">{resolution.winner ? `${humanize(resolution.winner)} agent` : "none: every proposal was set aside"}</dd>
                </div>
                {resolution.set_aside.length > 0 ? (
                  <div>
                    <dt className="inline font-medium text-slate-700">Set aside: </dt>
                    <dd className="inline">{resolution.set_aside.map((agent) => `${humanize(agent)} agent`).join(", ")}</dd>
                  </div>
                ) : null}
                <div>
                  <dt className="inline font-medium text-slate-700">How: </dt>
                  <dd className="inline">
                    {humanize(resolution.method)}, by {resolution.written_by ?? "rules"}
                  </dd>
                </div>
                <div>
                  <dt className="inline font-medium text-slate-700">Why: </dt>
                  <dd className="inline">{resolution.reason}</dd>
                </div>
              </dl>
            ) : (
              <p className="mt-1 text-sm text-slate-700">Not resolved yet.</p>
            )}
          </div>
        </div>
        <p className="mt-3 text-xs text-slate-700">
          Joint optimization <span className="font-mono">{conflict.joint_workflow_id}</span>
          {temporal ? (
            <>
              {" "}
              (
              <a href={temporal} target="_blank" rel="noreferrer" className="text-blue-800 underline">
                Temporal UI<span className="sr-only"> for {conflict.joint_workflow_id}</span>
              </a>
              )
            </>
          ) : null}
        </p>
      </article>
    </li>
  );
}

export function ConflictsPage() {
  const { session } = useSession();
  const ownCustomer = session?.principal.customer_id ?? null;
  const [params, setParams] = useSearchParams();
  const { limit, offset, setOffset } = usePaging(PAGE_SIZE);
  const rawCustomer = params.get("customer") ?? "";
  const rawWorkload = params.get("workload") ?? "";
  const customer = ownCustomer ?? (IDENTIFIER.test(rawCustomer) ? rawCustomer : "");
  const workload = IDENTIFIER.test(rawWorkload) ? rawWorkload : "";

  const customers = useCustomers(ownCustomer === null);
  const workloads = useQuery({
    queryKey: ["workloads", { limit: 500, offset: 0 }],
    queryFn: ({ signal }) => unwrap(api.GET("/v1/workloads", { params: { query: { limit: 500 } }, signal })),
    staleTime: 60_000,
  });
  const query = { limit, offset, ...(customer ? { customer_id: customer } : {}), ...(workload ? { workload_id: workload } : {}) };
  const list = useQuery({
    queryKey: ["conflicts", query],
    queryFn: ({ signal }) => unwrap(api.GET("/v1/conflicts", { params: { query }, signal })),
    placeholderData: keepPreviousData,
    refetchInterval: POLL.list,
  });

  // The recommendations of each workload on this page, to link the proposals that became one.
  const pairs = [...new Map((list.data?.items ?? []).map((item) => [workloadKey(item), item])).values()];
  const recommendations = useQueries({
    queries: pairs.map((pair) => ({
      queryKey: ["recommendations", { customer_id: pair.customer_id, workload_id: pair.workload_id, limit: 500, offset: 0 }],
      queryFn: ({ signal }: { signal: AbortSignal }) =>
        unwrap(
          api.GET("/v1/recommendations", {
            params: { query: { customer_id: pair.customer_id, workload_id: pair.workload_id, limit: 500, offset: 0 } },
            signal,
          }),
        ),
      refetchInterval: POLL.list,
    })),
  });
  const byWorkload = new Map<string, RecommendationItem[]>();
  pairs.forEach((pair, index) => byWorkload.set(workloadKey(pair), recommendations[index]?.data?.items ?? []));

  const workloadIds = [
    ...new Set(
      (workloads.data?.items ?? []).filter((item) => !customer || item.customer_id === customer).map((item) => item.workload_id),
    ),
  ].sort();
  if (workload && !workloadIds.includes(workload)) workloadIds.push(workload);
  const workloadOptions: Option[] = [{ value: "", label: "All" }, ...workloadIds.map((value) => ({ value, label: value }))];

  const setFilter = (name: "customer" | "workload", value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    next.delete("offset");
    setParams(next);
  };

  return (
    <>
      <PageHeading>Conflicts</PageHeading>
      <p className="mb-4 max-w-3xl text-sm text-slate-700">
        Where a joint optimization found agents proposing changes that cannot both happen, and how each was resolved.
      </p>
      <form aria-label="Filters" className="mb-4 grid max-w-xl grid-cols-2 gap-3" onSubmit={(event) => event.preventDefault()}>
        {ownCustomer === null ? (
          <SelectField
            label="Customer"
            options={customerOptions(customers.data?.items, { value: "", label: "All customers" })}
            value={customer}
            onChange={(event) => setFilter("customer", event.target.value)}
          />
        ) : null}
        <SelectField label="Workload" options={workloadOptions} value={workload} onChange={(event) => setFilter("workload", event.target.value)} />
      </form>
      <ErrorAlert error={list.error} prefix="Could not load the conflicts:" />
      {list.isPending ? (
        <Loading />
      ) : list.data ? (
        <>
          {list.data.items.length === 0 ? (
            <p className="rounded-lg border border-slate-200 bg-white p-4 text-sm text-slate-700">No conflicts found.</p>
          ) : (
            <ul aria-label="Conflicts" className="space-y-3">
              {list.data.items.map((conflict) => (
                <ConflictItem
                  key={`${conflict.joint_workflow_id}/${conflict.conflict.conflict_id}`}
                  conflict={conflict}
                  candidates={byWorkload.get(workloadKey(conflict)) ?? []}
                />
              ))}
            </ul>
          )}
          <Pager offset={offset} limit={limit} total={list.data.total} onOffsetChange={setOffset} />
        </>
      ) : null}
    </>
  );
}
