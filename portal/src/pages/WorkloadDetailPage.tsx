import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useParams } from "react-router";
import { api, unwrap, type Schemas } from "../api/client";
import type { RecommendationItem, WorkloadDetail } from "../api/types";
import { useCan } from "../auth/SessionContext";
import { Card } from "../components/Card";
import { ErrorAlert } from "../components/ErrorAlert";
import { Loading } from "../components/Loading";
import { Measured, Notes } from "../components/NotMeasured";
import { PageHeading } from "../components/PageHeading";
import { StatusBadge } from "../components/StatusBadge";
import { Table, type Column } from "../components/Table";
import {
  formatDate,
  formatDateTime,
  formatNumber,
  formatRatio,
  formatSeconds,
  formatUsd,
  formatUsdPerMonth,
  formatUsdPrecise,
  humanize,
  NOT_MEASURED,
} from "../lib/format";
import { POLL } from "../lib/queryClient";
import { ABILITIES } from "../lib/roles";
import { gpuSummary } from "./workloads/fleet";
import { Facts } from "../components/Facts";
import {
  DEFAULT_OPTIONS,
  StartButtons,
  StartOptionsPanel,
  StartResult,
  useStartOptimization,
  type StartOptions,
} from "./workloads/StartOptimization";

type FleetInstance = Schemas["FleetInstance"];

const INSTANCE_COLUMNS: Column<FleetInstance>[] = [
  { header: "Instance", cell: (instance) => <span className="font-mono text-xs">{instance.instance_id}</span> },
  { header: "Type", cell: (instance) => instance.instance_type },
  { header: "GPU", cell: (instance) => instance.gpu_model ?? <span className="italic">unknown</span> },
  { header: "GPUs", numeric: true, cell: (instance) => (instance.gpus === null ? <span className="italic">unknown</span> : instance.gpus) },
  { header: "Lifecycle", cell: (instance) => <StatusBadge status={instance.lifecycle} /> },
  { header: "Cost that hour", numeric: true, cell: (instance) => formatUsdPrecise(instance.hourly_usd) },
];

const RECOMMENDATION_COLUMNS: Column<RecommendationItem>[] = [
  {
    header: "Recommendation",
    cell: (item) => (
      <Link to={`/recommendations/${encodeURIComponent(item.id)}`} className="font-medium text-blue-800 underline">
        {item.title}
      </Link>
    ),
  },
  { header: "Agent", cell: (item) => humanize(item.agent) },
  { header: "Status", cell: (item) => <StatusBadge status={item.status} /> },
  { header: "Savings", numeric: true, cell: (item) => formatUsdPerMonth(item.estimated_monthly_savings_usd) },
  { header: "Risk", cell: (item) => <StatusBadge status={item.risk_level} /> },
  { header: "Created", cell: (item) => <span className="whitespace-nowrap">{formatDateTime(item.created_at)}</span> },
];

function yesNo(value: boolean | undefined): string {
  return value ? "yes" : "no";
}

function FleetCard({ detail }: { detail: WorkloadDetail }) {
  const fleet = detail.fleet;
  return (
    <Card title="Fleet">
      {fleet ? (
        <>
          <p className="mb-3 text-sm text-slate-700">As measured in the hour starting {formatDateTime(fleet.hour)}.</p>
          <Facts
            items={[
              ["Replicas", formatNumber(fleet.replicas)],
              ["GPUs", `${formatNumber(fleet.gpus)} (${gpuSummary(fleet)})`],
              ["Cost that hour", formatUsdPrecise(fleet.hourly_cost_usd)],
            ]}
          />
          <div className="mt-3">
            <Table caption="Instances" columns={INSTANCE_COLUMNS} rows={fleet.instances} rowKey={(instance) => instance.instance_id} />
          </div>
        </>
      ) : (
        <Measured value={null} format={() => NOT_MEASURED} note={detail.notes.join(" ") || "Nothing was measured of this fleet."} />
      )}
    </Card>
  );
}

function CostCard({ detail }: { detail: WorkloadDetail }) {
  const cost = detail.cost;
  return (
    <Card title="Measured cost">
      {cost ? (
        <>
          <p className="text-2xl font-semibold text-slate-900">{formatUsdPerMonth(cost.monthly_cost_usd)}</p>
          <p className="mb-3 text-xs text-slate-700">mean hourly cost × 730</p>
          <Facts
            items={[
              ["Period", `${formatDate(cost.since)} to ${formatDate(cost.until)} (excluded)`],
              ["Total over the period", formatUsd(cost.total_cost_usd)],
              ["Mean hourly cost", formatUsdPrecise(cost.hourly_cost_usd)],
              ["Measured hours", formatNumber(cost.measured_hours)],
              ["GPU-hours", formatNumber(cost.gpu_hours)],
            ]}
          />
        </>
      ) : (
        <Measured value={null} format={() => NOT_MEASURED} note={detail.notes.join(" ") || "No cost record of this workload."} />
      )}
    </Card>
  );
}

function SloCard({ detail }: { detail: WorkloadDetail }) {
  const { workload } = detail;
  const report = useQuery({
    queryKey: ["reports", "slo", { customer_id: workload.customer_id, workload_id: workload.workload_id }],
    queryFn: ({ signal }) =>
      unwrap(
        api.GET("/v1/reports/slo", {
          params: { query: { customer_id: workload.customer_id, workload_id: workload.workload_id } },
          signal,
        }),
      ),
    refetchInterval: POLL.report,
  });
  const mine = report.data?.workloads.find((item) => item.workload_id === workload.workload_id && item.customer_id === workload.customer_id);
  return (
    <Card title="SLO">
      <Facts
        items={[
          ["TTFT p95 objective", workload.slo_ttft_p95_s == null ? "none set" : formatSeconds(workload.slo_ttft_p95_s)],
          ["Inter-token latency p95 objective", workload.slo_itl_p95_s == null ? "none set" : formatSeconds(workload.slo_itl_p95_s)],
          [
            "Attainment, last 30 days",
            report.isPending ? (
              "…"
            ) : report.error ? (
              <ErrorAlert error={report.error} />
            ) : (
              <>
                <Measured value={mine?.attainment ?? null} format={(value) => formatRatio(value)} note={mine?.note ?? report.data?.notes?.join(" ")} />
                {mine && mine.attainment !== null ? (
                  <span className="block text-xs text-slate-700">
                    {formatNumber(mine.windows_met)} of {formatNumber(mine.windows_judged)} windows met; {formatNumber(mine.breaches_total)}{" "}
                    {mine.breaches_total === 1 ? "breach" : "breaches"}
                  </span>
                ) : null}
              </>
            ),
          ],
        ]}
      />
    </Card>
  );
}

export function WorkloadDetailPage() {
  const { customerId = "", workloadId = "" } = useParams();
  const canStart = useCan(ABILITIES.optimize);
  const [options, setOptions] = useState<StartOptions>(DEFAULT_OPTIONS);
  const starter = useStartOptimization(options);
  const query = useQuery({
    queryKey: ["workload", customerId, workloadId],
    queryFn: ({ signal }) =>
      unwrap(
        api.GET("/v1/workloads/{customer_id}/{workload_id}", {
          params: { path: { customer_id: customerId, workload_id: workloadId } },
          signal,
        }),
      ),
    refetchInterval: POLL.list,
  });

  if (query.isPending) {
    return (
      <>
        <PageHeading title={`Workload ${workloadId}`}>Workload {workloadId}</PageHeading>
        <Loading />
      </>
    );
  }
  if (!query.data) {
    return (
      <>
        <PageHeading title={`Workload ${workloadId}`}>Workload {workloadId}</PageHeading>
        <ErrorAlert error={query.error} prefix="Could not load the workload:" />
        <Link to="/workloads" className="text-blue-800 underline">
          Back to the workloads
        </Link>
      </>
    );
  }
  const detail = query.data;
  const { workload } = detail;
  const recommendationsLink = `/recommendations?workload=${encodeURIComponent(workload.workload_id)}`;
  return (
    <>
      <nav aria-label="Breadcrumb" className="mb-2 text-sm">
        <Link to="/workloads" className="text-blue-800 underline">
          Workloads
        </Link>{" "}
        / <span className="font-mono">{workload.customer_id}/{workload.workload_id}</span>
      </nav>
      <PageHeading title={workload.name}>{workload.name}</PageHeading>
      <ErrorAlert error={query.error} prefix="Could not refresh:" />
      <div className="grid gap-4 lg:grid-cols-2">
        <Card title="Workload">
          <Facts
            items={[
              ["Workload id", <span className="font-mono">{workload.workload_id}</span>],
              ["Customer", <span className="font-mono">{workload.customer_id}</span>],
              ["Model", <span className="break-all font-mono text-xs">{workload.model_name}</span>],
              ["Region", workload.region],
              ["Stateless", yesNo(workload.stateless)],
              ["Critical", yesNo(workload.critical)],
              ["Minimum on-demand instances", formatNumber(workload.min_on_demand_instances ?? 0)],
              ["Request routing", humanize(workload.request_routing ?? "round_robin")],
              [
                "Kubernetes deployment",
                workload.kube_namespace && workload.kube_deployment ? (
                  <span className="font-mono">
                    {workload.kube_namespace}/{workload.kube_deployment}
                  </span>
                ) : (
                  "none"
                ),
              ],
            ]}
          />
        </Card>
        <CostCard detail={detail} />
        <SloCard detail={detail} />
        {canStart ? (
          <Card title="Start an optimization">
            <StartResult started={starter.started} error={starter.error} />
            <StartButtons workload={workload} onStart={starter.start} pending={starter.pendingFor(workload)} />
          </Card>
        ) : null}
      </div>
      {canStart ? (
        <div className="mt-4">
          <StartOptionsPanel value={options} onChange={setOptions} />
        </div>
      ) : null}
      <div className="mt-4 grid gap-4">
        <FleetCard detail={detail} />
        <Card title="Recent changes">
          <Table
            caption="Recent recommendations"
            columns={RECOMMENDATION_COLUMNS}
            rows={detail.recommendations}
            rowKey={(item) => item.id}
            empty="No recommendations for this workload yet."
          />
          <p className="mt-2 text-sm text-slate-700">
            Showing {detail.recommendations.length} of {detail.recommendations_total}.{" "}
            <Link to={recommendationsLink} className="text-blue-800 underline">
              All recommendations of {workload.workload_id}
            </Link>
          </p>
        </Card>
        {detail.notes.length > 0 && (detail.fleet || detail.cost) ? <Notes notes={detail.notes} /> : null}
      </div>
    </>
  );
}
