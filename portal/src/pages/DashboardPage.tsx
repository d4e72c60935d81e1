import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { api, unwrap } from "../api/client";
import { AGENTS, type AgentKind, type InferenceCostReport, type SavingsReport, type SloReport } from "../api/types";
import { Card } from "../components/Card";
import { ErrorAlert } from "../components/ErrorAlert";
import { Loading } from "../components/Loading";
import { Measured, Notes } from "../components/NotMeasured";
import { PageHeading } from "../components/PageHeading";
import { StatusBadge } from "../components/StatusBadge";
import { Table, type Column } from "../components/Table";
import {
  formatCompact,
  formatDate,
  formatDateTime,
  formatNumber,
  formatRatio,
  formatRelative,
  formatSeconds,
  formatUsd,
  formatUsdPerMonth,
  formatUsdPrecise,
  humanize,
  NOT_MEASURED,
} from "../lib/format";
import { POLL } from "../lib/queryClient";
import { anyRealized, savingsAxis, savingsByDay } from "../lib/reports";

const PENDING_QUERY = { status: "pending_approval" as const, limit: 100, offset: 0 };

function usePending() {
  return useQuery({
    queryKey: ["recommendations", PENDING_QUERY],
    queryFn: ({ signal }) => unwrap(api.GET("/v1/recommendations", { params: { query: PENDING_QUERY }, signal })),
    refetchInterval: POLL.list,
  });
}

function AgentCard({ agent }: { agent: AgentKind }) {
  const runs = useQuery({
    queryKey: ["optimizations", { agent, limit: 1 }],
    queryFn: ({ signal }) => unwrap(api.GET("/v1/optimizations", { params: { query: { agent, limit: 1 } }, signal })),
    refetchInterval: POLL.list,
  });
  const latest = useQuery({
    queryKey: ["recommendations", { agent, limit: 1, offset: 0 }],
    queryFn: ({ signal }) =>
      unwrap(api.GET("/v1/recommendations", { params: { query: { agent, limit: 1, offset: 0 } }, signal })),
    refetchInterval: POLL.list,
  });
  const pending = usePending();
  const run = runs.data?.items[0];
  const mine = (pending.data?.items ?? []).filter((item) => item.agent === agent);
  const pendingSavings = mine.reduce((sum, item) => sum + item.estimated_monthly_savings_usd, 0);
  const last = latest.data?.items[0];

  return (
    <Card title={`${humanize(agent)} agent`}>
      <ErrorAlert error={runs.error ?? latest.error} />
      <dl className="space-y-2 text-sm">
        <div>
          <dt className="text-xs font-medium uppercase tracking-wide text-slate-600">Status</dt>
          <dd className="text-slate-900">
            {runs.isPending ? (
              "…"
            ) : run ? (
              <>
                <StatusBadge status={run.execution_status} />
                {run.phase ? <span className="ml-1 text-slate-700">{humanize(run.phase)}</span> : null}
              </>
            ) : (
              <span className="text-slate-700">never run</span>
            )}
          </dd>
        </div>
        <div>
          <dt className="text-xs font-medium uppercase tracking-wide text-slate-600">Last run</dt>
          <dd className="text-slate-900">
            {run ? (
              <time dateTime={run.started_at} title={formatDateTime(run.started_at)}>
                {formatRelative(run.started_at)}
              </time>
            ) : (
              "never"
            )}
            {run?.workload_id ? <span className="text-slate-700"> · {run.workload_id}</span> : null}
          </dd>
        </div>
        <div>
          <dt className="text-xs font-medium uppercase tracking-wide text-slate-600">
            {mine.length > 0 ? "Pending savings" : "Latest recommendation"}
          </dt>
          <dd className="text-slate-900">
            {mine.length > 0 ? (
              <>
                <span className="text-xl font-semibold">{formatUsdPerMonth(pendingSavings)}</span>
                <span className="block text-slate-700">
                  in {mine.length} pending recommendation{mine.length === 1 ? "" : "s"}
                </span>
              </>
            ) : last ? (
              <>
                <span className="text-xl font-semibold">{formatUsdPerMonth(last.estimated_monthly_savings_usd)}</span>
                <span className="block text-slate-700">
                  {last.status.replace(/_/g, " ")}: {last.title}
                </span>
              </>
            ) : (
              <span className="text-slate-700">No recommendation yet</span>
            )}
          </dd>
        </div>
      </dl>
    </Card>
  );
}

function SavingsCard({ report }: { report: SavingsReport }) {
  const points = savingsByDay(report);
  const measured = anyRealized(report);
  // The bars carry the figures as they are (no rounding); only the axis labels are compact.
  const chartData = points.map((point) => ({ day: point.day.slice(5), Estimated: point.estimated, Realized: point.realized }));
  const axis = savingsAxis(points);
  const unmeasuredNotes = report.changes.map((change) => change.note).filter((note): note is string => Boolean(note));
  return (
    <>
      <p className="mb-2 text-sm text-slate-700">
        {formatDate(report.since)} to {formatDate(report.until)} (until excluded), all workloads.
      </p>
      <dl className="mb-3 grid grid-cols-2 gap-3 text-sm sm:grid-cols-4">
        <div>
          <dt className="text-xs font-medium uppercase tracking-wide text-slate-600">Estimated</dt>
          <dd className="text-xl font-semibold text-slate-900">{formatUsd(report.totals.estimated_savings_usd)}</dd>
        </div>
        <div>
          <dt className="text-xs font-medium uppercase tracking-wide text-slate-600">Realized</dt>
          <dd className="text-xl font-semibold text-slate-900">
            <Measured
              value={measured ? report.totals.realized_savings_usd : null}
              format={(value) => formatUsd(value)}
              note={measured ? null : (unmeasuredNotes[0] ?? (report.changes.length === 0 ? "no executed change in these days" : null))}
            />
          </dd>
        </div>
        <div>
          <dt className="text-xs font-medium uppercase tracking-wide text-slate-600">Changes in effect</dt>
          <dd className="text-xl font-semibold text-slate-900">{formatNumber(report.changes.length, 0)}</dd>
        </div>
        <div>
          <dt className="text-xs font-medium uppercase tracking-wide text-slate-600">Measured cost</dt>
          <dd className="text-xl font-semibold text-slate-900">{formatUsd(report.totals.cost_usd)}</dd>
        </div>
      </dl>
      {points.length > 0 ? (
        <div
          role="img"
          aria-label="Bar chart of estimated and realized savings per day; the totals are given above as text."
          className="h-56 w-full"
        >
          <ResponsiveContainer width="100%" height="100%">
            <BarChart data={chartData} margin={{ top: 8, right: 8, bottom: 0, left: 8 }}>
              <CartesianGrid strokeDasharray="3 3" stroke="#cbd5e1" />
              <XAxis dataKey="day" tick={{ fill: "#334155", fontSize: 11 }} />
              <YAxis
                tick={{ fill: "#334155", fontSize: 11 }}
                domain={axis.domain}
                ticks={axis.ticks}
                interval={0}
                allowDataOverflow={false}
                tickFormatter={(value: number) => axis.format(value)}
                width={64}
              />
              <Tooltip formatter={(value) => (typeof value === "number" ? formatUsdPrecise(value) : NOT_MEASURED)} />
              <Legend wrapperStyle={{ color: "#334155", fontSize: 12 }} />
              <Bar dataKey="Estimated" fill="#1d4ed8" isAnimationActive={false} />
              <Bar dataKey="Realized" fill="#15803d" isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </div>
      ) : (
        <p className="text-sm text-slate-600">No measured day in this period.</p>
      )}
      {report.changes.length > 0 ? (
        <Table
          caption="Changes in effect"
          showCaption
          rows={report.changes}
          rowKey={(change) => change.recommendation_id}
          columns={[
            {
              header: "Change",
              cell: (change) => (
                <Link className="text-blue-800 underline" to={`/recommendations/${encodeURIComponent(change.recommendation_id)}`}>
                  {change.title}
                </Link>
              ),
            },
            { header: "Executed", cell: (change) => formatDateTime(change.executed_at) },
            { header: "Estimated", numeric: true, cell: (change) => formatUsdPerMonth(change.estimated_monthly_savings_usd) },
            {
              header: "Realized",
              numeric: true,
              cell: (change) => (
                <Measured value={change.realized_monthly_savings_usd} format={formatUsdPerMonth} note={change.note} />
              ),
            },
          ]}
        />
      ) : null}
      <Notes notes={report.notes} />
    </>
  );
}

type WorkloadSlo = SloReport["workloads"][number];

const SLO_COLUMNS: Column<WorkloadSlo>[] = [
  { header: "Workload", cell: (row) => <span className="font-mono text-xs">{row.customer_id}/{row.workload_id}</span> },
  {
    header: "Objectives (p95)",
    cell: (row) =>
      row.ttft_p95_objective_s === null && row.itl_p95_objective_s === null
        ? "none"
        : [
            row.ttft_p95_objective_s !== null ? `TTFT ≤ ${formatSeconds(row.ttft_p95_objective_s)}` : null,
            row.itl_p95_objective_s !== null ? `ITL ≤ ${formatSeconds(row.itl_p95_objective_s)}` : null,
          ]
            .filter(Boolean)
            .join(", "),
  },
  {
    header: "Attainment",
    numeric: true,
    cell: (row) => <Measured value={row.attainment} format={(value) => formatRatio(value, 2)} note={row.note} />,
  },
  { header: "Windows met / judged", numeric: true, cell: (row) => `${formatNumber(row.windows_met, 0)} / ${formatNumber(row.windows_judged, 0)}` },
  { header: "Breaches", numeric: true, cell: (row) => formatNumber(row.breaches_total, 0) },
];

type InferenceCost = InferenceCostReport["items"][number];

function costColumns(days: number): Column<InferenceCost>[] {
  const note = (row: InferenceCost) => row.notes?.[0] ?? null;
  // With the spend measured, a missing rate is about tokens: the report's note on them says why, not its
  // first note (which may be about idle GPU cost).
  const tokenNote = (row: InferenceCost) => row.notes?.find((text) => /token/i.test(text)) ?? null;
  return [
    { header: "Model", cell: (row) => <span className="break-all">{row.model_name}</span> },
    { header: "Workload", cell: (row) => <span className="font-mono text-xs">{row.customer_id}/{row.workload_id}</span> },
    {
      header: `Spend (${days} days)`,
      numeric: true,
      cell: (row) => <Measured value={row.total_cost_usd} format={(value) => formatUsd(value)} note={note(row)} />,
    },
    {
      header: "$ per 1M tokens",
      numeric: true,
      cell: (row) => <CostPerMillion row={row} note={row.total_cost_usd === null ? null : tokenNote(row)} />,
    },
    { header: "Tokens", numeric: true, cell: (row) => formatCompact(row.total_tokens) },
  ];
}

/** $ per 1M tokens divides the cost of the hours whose tokens were counted by those tokens; when that is
 * less than the whole spend (counting began later than billing), say how much of it the figure rests on. */
function CostPerMillion({ row, note }: { row: InferenceCost; note: string | null }) {
  const coverage = row.token_coverage;
  return (
    <span>
      <Measured value={row.cost_per_million_tokens} format={formatUsdPrecise} note={note} />
      {row.cost_per_million_tokens !== null && coverage !== null && coverage !== undefined && coverage < 1 ? (
        <span className="block text-xs text-slate-600">
          over {formatRatio(coverage, coverage < 0.01 ? 3 : 1)} of the spend (hours with token counts)
        </span>
      ) : null}
    </span>
  );
}

function daysBetween(since: string, until: string): number {
  const days = Math.round((Date.parse(until) - Date.parse(since)) / 86_400_000);
  return Number.isFinite(days) && days > 0 ? days : 30;
}

function PendingList() {
  const pending = usePending();
  if (pending.isPending) return <Loading />;
  if (pending.isError) return <ErrorAlert error={pending.error} />;
  const items = pending.data.items;
  if (items.length === 0) return <p className="text-sm text-slate-600">Nothing awaits a decision.</p>;
  return (
    <>
      <ul className="divide-y divide-slate-100">
        {items.map((item) => (
          <li key={item.id} className="flex flex-wrap items-baseline justify-between gap-2 py-2 text-sm">
            <span>
              <Link className="font-medium text-blue-800 underline" to={`/recommendations/${encodeURIComponent(item.id)}`}>
                {item.title}
              </Link>
              <span className="ml-2 font-mono text-xs text-slate-700">
                {item.customer_id}/{item.workload_id} · {item.agent} · {item.risk_level} risk
              </span>
            </span>
            <span className="font-semibold text-slate-900">saves {formatUsdPerMonth(item.estimated_monthly_savings_usd)}</span>
          </li>
        ))}
      </ul>
      {pending.data.total > items.length ? (
        <p className="mt-2 text-sm">
          <Link className="text-blue-800 underline" to="/recommendations?status=pending_approval">
            All {pending.data.total} pending recommendations
          </Link>
        </p>
      ) : null}
    </>
  );
}

export function DashboardPage() {
  const savings = useQuery({
    queryKey: ["reports", "savings"],
    queryFn: ({ signal }) => unwrap(api.GET("/v1/reports/savings", { signal })),
    refetchInterval: POLL.report,
  });
  const slo = useQuery({
    queryKey: ["reports", "slo"],
    queryFn: ({ signal }) => unwrap(api.GET("/v1/reports/slo", { signal })),
    refetchInterval: POLL.report,
  });
  const cost = useQuery({
    queryKey: ["reports", "inference-cost"],
    queryFn: ({ signal }) => unwrap(api.GET("/v1/reports/inference-cost", { signal })),
    refetchInterval: POLL.report,
  });

  return (
    <>
      <PageHeading>Dashboard</PageHeading>
      <div className="grid gap-4 sm:grid-cols-2 xl:grid-cols-4">
        {AGENTS.map((agent) => (
          <AgentCard key={agent} agent={agent} />
        ))}
      </div>
      <div className="mt-4 grid gap-4 xl:grid-cols-2">
        <Card title="Savings, last 30 days">
          {savings.isPending ? <Loading /> : savings.isError ? <ErrorAlert error={savings.error} /> : <SavingsCard report={savings.data} />}
        </Card>
        <Card title="Pending recommendations">
          <PendingList />
        </Card>
        <Card title="SLO attainment">
          {slo.isPending ? (
            <Loading />
          ) : slo.isError ? (
            <ErrorAlert error={slo.error} />
          ) : (
            <>
              <Table caption="SLO attainment per workload" columns={SLO_COLUMNS} rows={slo.data.workloads} rowKey={(row) => `${row.customer_id}/${row.workload_id}`} empty="No workload." />
              <Notes notes={slo.data.notes} />
            </>
          )}
        </Card>
        <Card title="Spend and cost per 1M tokens">
          {cost.isPending ? (
            <Loading />
          ) : cost.isError ? (
            <ErrorAlert error={cost.error} />
          ) : (
            <>
              <p className="mb-2 text-sm text-slate-700">
                {formatDate(cost.data.since)} to {formatDate(cost.data.until)} (until excluded).
              </p>
              <Table
                caption="Spend and cost per 1M tokens per model"
                columns={costColumns(daysBetween(cost.data.since, cost.data.until))}
                rows={cost.data.items}
                rowKey={(row) => `${row.customer_id}/${row.workload_id}`}
                empty="No workload."
              />
              <Notes notes={cost.data.notes} />
            </>
          )}
        </Card>
      </div>
    </>
  );
}
