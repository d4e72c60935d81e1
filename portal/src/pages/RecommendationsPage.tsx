import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router";
import { api, unwrap } from "../api/client";
import { AGENTS, RISKS, STATUSES, type RecommendationItem } from "../api/types";
import { ErrorAlert } from "../components/ErrorAlert";
import { SelectField, type Option } from "../components/Field";
import { Loading } from "../components/Loading";
import { PageHeading } from "../components/PageHeading";
import { StatusBadge } from "../components/StatusBadge";
import { Pager, Table, type Column } from "../components/Table";
import { formatDateTime, formatRatio, formatUsdPerMonth, humanize } from "../lib/format";
import { usePaging } from "../lib/paging";
import { POLL } from "../lib/queryClient";
import { filtersFromParams, toApiQuery, withFilter } from "./recommendations/filters";

const PAGE_SIZE = 20;

const ALL: Option = { value: "", label: "All" };
const STATUS_OPTIONS: Option[] = [ALL, ...STATUSES.map((value) => ({ value, label: humanize(value) }))];
const AGENT_OPTIONS: Option[] = [ALL, ...AGENTS.map((value) => ({ value, label: humanize(value) }))];
const RISK_OPTIONS: Option[] = [ALL, ...RISKS.map((value) => ({ value, label: humanize(value) }))];

const COLUMNS: Column<RecommendationItem>[] = [
  {
    header: "Recommendation",
    cell: (item) => (
      <Link to={`/recommendations/${encodeURIComponent(item.id)}`} className="font-medium text-blue-800 underline">
        {item.title}
      </Link>
    ),
  },
  {
    header: "Workload",
    cell: (item) => (
      <span className="font-mono text-xs">
        {item.customer_id}/{item.workload_id}
      </span>
    ),
  },
  { header: "Agent", cell: (item) => humanize(item.agent) },
  { header: "Status", cell: (item) => <StatusBadge status={item.status} /> },
  { header: "Risk", cell: (item) => <StatusBadge status={item.risk_level} /> },
  { header: "Savings", numeric: true, cell: (item) => formatUsdPerMonth(item.estimated_monthly_savings_usd) },
  { header: "Confidence", numeric: true, cell: (item) => formatRatio(item.confidence, 0) },
  { header: "Created", cell: (item) => <span className="whitespace-nowrap">{formatDateTime(item.created_at)}</span> },
];

export function RecommendationsPage() {
  const [params, setParams] = useSearchParams();
  const filters = filtersFromParams(params);
  const { limit, offset, setOffset } = usePaging(PAGE_SIZE);
  const query = toApiQuery(filters, { limit, offset });

  const list = useQuery({
    queryKey: ["recommendations", query],
    queryFn: ({ signal }) => unwrap(api.GET("/v1/recommendations", { params: { query }, signal })),
    placeholderData: keepPreviousData,
    refetchInterval: POLL.list,
  });
  const workloads = useQuery({
    queryKey: ["workloads", { limit: 500, offset: 0 }],
    queryFn: ({ signal }) => unwrap(api.GET("/v1/workloads", { params: { query: { limit: 500 } }, signal })),
    staleTime: 60_000,
  });

  const workloadIds = [...new Set((workloads.data?.items ?? []).map((workload) => workload.workload_id))].sort();
  if (filters.workload && !workloadIds.includes(filters.workload)) workloadIds.push(filters.workload);
  const workloadOptions: Option[] = [ALL, ...workloadIds.map((value) => ({ value, label: value }))];

  const setFilter = (name: "status" | "agent" | "workload" | "risk") => (event: React.ChangeEvent<HTMLSelectElement>) =>
    setParams(withFilter(params, name, event.target.value));

  return (
    <>
      <PageHeading>Recommendations</PageHeading>
      <form
        aria-label="Filters"
        className="mb-4 grid grid-cols-2 gap-3 rounded-lg border border-slate-200 bg-white p-4 md:grid-cols-4"
        onSubmit={(event) => event.preventDefault()}
      >
        <SelectField label="Status" options={STATUS_OPTIONS} value={filters.status} onChange={setFilter("status")} />
        <SelectField label="Agent" options={AGENT_OPTIONS} value={filters.agent} onChange={setFilter("agent")} />
        <SelectField label="Workload" options={workloadOptions} value={filters.workload} onChange={setFilter("workload")} />
        <SelectField label="Risk" options={RISK_OPTIONS} value={filters.risk} onChange={setFilter("risk")} />
      </form>
      {filters.customer ? (
        <p className="mb-2 text-sm text-slate-700">
          Customer <span className="font-mono">{filters.customer}</span> only.{" "}
          <Link className="text-blue-800 underline" to={{ search: withFilter(params, "customer", "").toString() }}>
            Show every customer
          </Link>
        </p>
      ) : null}
      <ErrorAlert error={list.error} />
      {list.isPending ? (
        <Loading />
      ) : (
        <div className="rounded-lg border border-slate-200 bg-white p-2">
          <Table
            caption="Recommendations"
            columns={COLUMNS}
            rows={list.data?.items ?? []}
            rowKey={(item) => item.id}
            empty="No recommendation matches these filters."
          />
          <Pager offset={offset} limit={limit} total={list.data?.total ?? 0} onOffsetChange={setOffset} />
        </div>
      )}
    </>
  );
}
