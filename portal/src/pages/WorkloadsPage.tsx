import { keepPreviousData, useQueries, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useSearchParams } from "react-router";
import { api, unwrap } from "../api/client";
import { errorText } from "../api/errors";
import type { Workload, WorkloadDetail } from "../api/types";
import { useCan, useSession } from "../auth/SessionContext";
import { ErrorAlert } from "../components/ErrorAlert";
import { SelectField } from "../components/Field";
import { Loading } from "../components/Loading";
import { Measured } from "../components/NotMeasured";
import { PageHeading } from "../components/PageHeading";
import { Pager, Table, type Column } from "../components/Table";
import { formatSeconds, formatUsdPerMonth, NOT_MEASURED } from "../lib/format";
import { usePaging } from "../lib/paging";
import { POLL } from "../lib/queryClient";
import { ABILITIES } from "../lib/roles";
import { customerOptions, useCustomers } from "./settings/customers";
import { gpuSummary, instanceSummary, sloSummary } from "./workloads/fleet";
import {
  DEFAULT_OPTIONS,
  StartButtons,
  StartOptionsPanel,
  StartResult,
  useStartOptimization,
  type StartOptions,
} from "./workloads/StartOptimization";

const PAGE_SIZE = 20;

interface Row {
  workload: Workload;
  detail: WorkloadDetail | undefined;
  detailError: unknown;
}

export function workloadPath(workload: { customer_id: string; workload_id: string }): string {
  return `/workloads/${encodeURIComponent(workload.customer_id)}/${encodeURIComponent(workload.workload_id)}`;
}

function Pending({ error }: { error: unknown }) {
  if (error) return <span className="text-xs text-red-800">{errorText(error)}</span>;
  return <span className="text-slate-600">…</span>;
}

export function WorkloadsPage() {
  const { session } = useSession();
  const canStart = useCan(ABILITIES.optimize);
  const ownCustomer = session?.principal.customer_id ?? null;
  const [params, setParams] = useSearchParams();
  const customer = ownCustomer ?? params.get("customer") ?? "";
  const { limit, offset, setOffset } = usePaging(PAGE_SIZE);
  const [options, setOptions] = useState<StartOptions>(DEFAULT_OPTIONS);
  const starter = useStartOptimization(options);

  const customers = useCustomers(ownCustomer === null);
  const query = { limit, offset, ...(customer ? { customer_id: customer } : {}) };
  const list = useQuery({
    queryKey: ["workloads", query],
    queryFn: ({ signal }) => unwrap(api.GET("/v1/workloads", { params: { query }, signal })),
    placeholderData: keepPreviousData,
    refetchInterval: POLL.list,
  });
  const items = list.data?.items ?? [];
  const details = useQueries({
    queries: items.map((workload) => ({
      queryKey: ["workload", workload.customer_id, workload.workload_id],
      queryFn: ({ signal }: { signal: AbortSignal }) =>
        unwrap(
          api.GET("/v1/workloads/{customer_id}/{workload_id}", {
            params: { path: { customer_id: workload.customer_id, workload_id: workload.workload_id } },
            signal,
          }),
        ),
      refetchInterval: POLL.list,
    })),
  });
  const rows: Row[] = items.map((workload, index) => ({
    workload,
    detail: details[index]?.data,
    detailError: details[index]?.error ?? null,
  }));

  const columns: Column<Row>[] = [
    {
      header: "Workload",
      cell: ({ workload }) => (
        <div>
          <Link to={workloadPath(workload)} className="font-medium text-blue-800 underline">
            {workload.workload_id}
          </Link>
          <div className="text-xs text-slate-700">{workload.name}</div>
        </div>
      ),
    },
    ...(ownCustomer === null
      ? [{ header: "Customer", cell: ({ workload }: Row) => <span className="font-mono text-xs">{workload.customer_id}</span> }]
      : []),
    { header: "Model", cell: ({ workload }) => <span className="break-all font-mono text-xs">{workload.model_name}</span> },
    { header: "Region", cell: ({ workload }) => workload.region },
    {
      header: "SLO",
      cell: ({ workload }) => sloSummary(workload, formatSeconds) ?? <span className="text-slate-700">none set</span>,
    },
    {
      header: "Monthly cost",
      numeric: true,
      cell: ({ detail, detailError }) =>
        detail ? (
          <Measured value={detail.cost?.monthly_cost_usd} format={formatUsdPerMonth} note={detail.cost ? null : detail.notes.join(" ")} />
        ) : (
          <Pending error={detailError} />
        ),
    },
    {
      header: "GPUs",
      cell: ({ detail, detailError }) =>
        detail ? (
          detail.fleet ? (
            <div>
              <div>{gpuSummary(detail.fleet)}</div>
              <div className="text-xs text-slate-700">
                {instanceSummary(detail.fleet)} · {detail.fleet.replicas} {detail.fleet.replicas === 1 ? "replica" : "replicas"}
              </div>
            </div>
          ) : (
            <Measured value={null} format={() => NOT_MEASURED} note={detail.notes.join(" ")} />
          )
        ) : (
          <Pending error={detailError} />
        ),
    },
    ...(canStart
      ? [
          {
            header: "Actions",
            cell: ({ workload }: Row) => (
              <StartButtons workload={workload} onStart={starter.start} pending={starter.pendingFor(workload)} compact />
            ),
          },
        ]
      : []),
  ];

  return (
    <>
      <PageHeading>Workloads</PageHeading>
      {ownCustomer === null ? (
        <form aria-label="Filters" className="mb-4 max-w-xs" onSubmit={(event) => event.preventDefault()}>
          <SelectField
            label="Customer"
            options={customerOptions(customers.data?.items, { value: "", label: "All customers" })}
            value={customer}
            onChange={(event) => {
              const next = new URLSearchParams(params);
              if (event.target.value) next.set("customer", event.target.value);
              else next.delete("customer");
              next.delete("offset");
              setParams(next);
            }}
          />
        </form>
      ) : null}
      {canStart ? (
        <div className="mb-4">
          <StartOptionsPanel value={options} onChange={setOptions} />
        </div>
      ) : null}
      <StartResult started={starter.started} error={starter.error} />
      <ErrorAlert error={list.error} prefix="Could not load the workloads:" />
      {list.isPending ? (
        <Loading />
      ) : list.data ? (
        <div className="rounded-lg border border-slate-200 bg-white p-2 shadow-sm">
          <Table
            caption="Workloads"
            columns={columns}
            rows={rows}
            rowKey={({ workload }) => `${workload.customer_id}/${workload.workload_id}`}
            empty="No workloads yet."
          />
          <Pager offset={offset} limit={limit} total={list.data.total} onOffsetChange={setOffset} />
        </div>
      ) : null}
    </>
  );
}
