import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useId, useState } from "react";
import { api, unwrap } from "../api/client";
import type { ScanScheduleView } from "../api/types";
import { useCan, useSession, useTemporalLink } from "../auth/SessionContext";
import { Button } from "../components/Button";
import { ErrorAlert, StatusMessage } from "../components/ErrorAlert";
import { Loading } from "../components/Loading";
import { PageHeading } from "../components/PageHeading";
import { StatusBadge } from "../components/StatusBadge";
import { Pager, Table, type Column } from "../components/Table";
import { formatDateTime, formatRelative, humanize } from "../lib/format";
import { usePaging } from "../lib/paging";
import { POLL } from "../lib/queryClient";
import { ABILITIES } from "../lib/roles";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { NewScheduleForm } from "./schedules/NewScheduleForm";

const PAGE_SIZE = 20;

type Action = "pause" | "unpause" | "delete";

const DONE: Record<Action, string> = { pause: "Paused", unpause: "Resumed", delete: "Deleted" };

/** Schedules are named per owner: a customer's "nightly" and the fleet-wide "nightly" are two. */
function scheduleKey(view: ScanScheduleView): string {
  return `${view.customer_id ?? ""}/${view.schedule_id}`;
}

function ownerQuery(view: ScanScheduleView): { customer_id?: string } {
  return view.customer_id ? { customer_id: view.customer_id } : {};
}

function LastRun({ view }: { view: ScanScheduleView }) {
  const last = view.recent_runs && view.recent_runs.length > 0 ? view.recent_runs[view.recent_runs.length - 1] : undefined;
  const href = useTemporalLink(last?.workflow_id);
  if (!last) return <span className="text-slate-700">none yet</span>;
  return (
    <div>
      <span className="whitespace-nowrap">{formatDateTime(last.started_at)}</span>
      <div className="text-xs text-slate-700">
        {href ? (
          <a href={href} target="_blank" rel="noreferrer" className="font-mono text-blue-800 underline">
            {last.workflow_id}
          </a>
        ) : (
          <span className="font-mono">{last.workflow_id}</span>
        )}
      </div>
    </div>
  );
}

export function SchedulesPage() {
  const { session } = useSession();
  const ownCustomer = session?.principal.customer_id ?? null;
  const canSchedule = useCan(ABILITIES.schedule);
  const prefix = useId();
  const queryClient = useQueryClient();
  const { limit, offset, setOffset } = usePaging(PAGE_SIZE);
  const [notes, setNotes] = useState<Record<string, string>>({});
  const [confirming, setConfirming] = useState<ScanScheduleView | null>(null);

  const list = useQuery({
    queryKey: ["schedules", { limit, offset }],
    queryFn: ({ signal }) => unwrap(api.GET("/v1/schedules", { params: { query: { limit, offset } }, signal })),
    placeholderData: keepPreviousData,
    refetchInterval: POLL.list,
  });

  const act = useMutation({
    mutationFn: async ({ action, view }: { action: Action; view: ScanScheduleView }) => {
      const params = { path: { schedule_id: view.schedule_id }, query: ownerQuery(view) };
      if (action === "delete") {
        await unwrap(api.DELETE("/v1/schedules/{schedule_id}", { params }));
        return;
      }
      const body = { note: (notes[scheduleKey(view)] ?? "").trim() };
      if (action === "pause") await unwrap(api.POST("/v1/schedules/{schedule_id}/pause", { params, body }));
      else await unwrap(api.POST("/v1/schedules/{schedule_id}/unpause", { params, body }));
    },
    onSuccess: (_data, { action, view }) => {
      setConfirming(null);
      if (action !== "delete") setNotes((current) => ({ ...current, [scheduleKey(view)]: "" }));
      void queryClient.invalidateQueries({ queryKey: ["schedules"] });
      void queryClient.invalidateQueries({ queryKey: ["audit"] });
    },
  });

  const rowId = (view: ScanScheduleView) => `${prefix}-${view.customer_id ?? "fleet"}-${view.schedule_id}`;
  const busyFor = (view: ScanScheduleView) =>
    act.isPending && act.variables?.view.schedule_id === view.schedule_id && act.variables?.view.customer_id === view.customer_id;

  const columns: Column<ScanScheduleView>[] = [
    {
      header: "Schedule",
      cell: (view) => (
        <div>
          <span id={rowId(view)} className="font-mono font-medium">
            {view.schedule_id}
          </span>
          {view.note ? <div className="text-xs text-slate-700">{view.note}</div> : null}
        </div>
      ),
    },
    ...(ownCustomer === null
      ? [{ header: "Scans", cell: (view: ScanScheduleView) => (view.customer_id ? <span className="font-mono">{view.customer_id}</span> : "every customer") }]
      : []),
    {
      header: "State",
      cell: (view) => (
        <div>
          <StatusBadge status={view.paused ? "paused" : "active"} tone={view.paused ? "amber" : "green"} />
          {view.pause_note ? <div className="mt-1 text-xs text-slate-700">Note: {view.pause_note}</div> : null}
        </div>
      ),
    },
    {
      header: "When",
      cell: (view) => (
        <div>
          {view.cron.map((expression) => (
            <div key={expression} className="font-mono text-xs">
              {expression}
            </div>
          ))}
          <div className="text-xs text-slate-700">{view.timezone}</div>
        </div>
      ),
    },
    { header: "Agents", cell: (view) => view.agents.map(humanize).join(", ") },
    {
      header: "Next runs",
      cell: (view) =>
        view.paused ? (
          <span className="text-slate-700">paused</span>
        ) : view.next_action_times && view.next_action_times.length > 0 ? (
          <ul>
            {view.next_action_times.slice(0, 2).map((time) => (
              <li key={time} className="whitespace-nowrap">
                {formatDateTime(time)} <span className="text-xs text-slate-700">({formatRelative(time)})</span>
              </li>
            ))}
          </ul>
        ) : (
          <span className="text-slate-700">none</span>
        ),
    },
    { header: "Last run", cell: (view) => <LastRun view={view} /> },
    ...(canSchedule
      ? [
          {
            header: "Actions",
            cell: (view: ScanScheduleView) => (
              <div className="flex flex-wrap items-end gap-2">
                <div>
                  <label htmlFor={`${rowId(view)}-note`} className="sr-only">
                    {`Note for ${view.schedule_id}${view.customer_id && ownCustomer === null ? ` (${view.customer_id})` : ""}`}
                  </label>
                  <input
                    id={`${rowId(view)}-note`}
                    value={notes[scheduleKey(view)] ?? ""}
                    onChange={(event) => setNotes((current) => ({ ...current, [scheduleKey(view)]: event.target.value }))}
                    placeholder={view.paused ? "Why resume (optional)" : "Why pause (optional)"}
                    maxLength={2000}
                    className="w-40 rounded-md border border-slate-400 px-2 py-1 text-sm text-slate-900 placeholder:text-slate-600"
                  />
                </div>
                {view.paused ? (
                  <Button aria-describedby={rowId(view)} disabled={busyFor(view)} onClick={() => act.mutate({ action: "unpause", view })}>
                    Resume
                  </Button>
                ) : (
                  <Button aria-describedby={rowId(view)} disabled={busyFor(view)} onClick={() => act.mutate({ action: "pause", view })}>
                    Pause
                  </Button>
                )}
                <Button variant="danger" aria-describedby={rowId(view)} disabled={busyFor(view)} onClick={() => setConfirming(view)}>
                  Delete
                </Button>
              </div>
            ),
          },
        ]
      : []),
  ];

  const done = act.isSuccess && act.variables ? `${DONE[act.variables.action]} schedule ${act.variables.view.schedule_id}.` : null;

  return (
    <>
      <PageHeading>Schedules</PageHeading>
      <p className="mb-4 max-w-3xl text-sm text-slate-700">
        Fleet scans: at each cron time a scan starts a joint optimization of every workload it covers.
      </p>
      {done ? <StatusMessage>{done}</StatusMessage> : null}
      {!confirming ? <ErrorAlert error={act.error} prefix="Could not change the schedule:" /> : null}
      <ErrorAlert error={list.error} prefix="Could not load the schedules:" />
      {list.isPending ? (
        <Loading />
      ) : list.data ? (
        <div className="mb-6 rounded-lg border border-slate-200 bg-white p-2 shadow-sm">
          <Table
            caption="Schedules"
            columns={columns}
            rows={list.data.items}
            rowKey={scheduleKey}
            empty="No schedules yet."
          />
          <Pager offset={offset} limit={limit} total={list.data.total} onOffsetChange={setOffset} />
        </div>
      ) : null}
      {canSchedule ? <NewScheduleForm ownCustomer={ownCustomer} /> : null}
      <ConfirmDialog
        open={confirming !== null}
        title={`Delete schedule ${confirming?.schedule_id ?? ""}?`}
        confirmLabel="Delete schedule"
        busy={act.isPending}
        onCancel={() => {
          setConfirming(null);
          act.reset();
        }}
        onConfirm={() => confirming && act.mutate({ action: "delete", view: confirming })}
      >
        <p>No more scans will start. Scans and joint optimizations it already started go on.</p>
        {confirming ? <ErrorAlert error={act.error} /> : null}
      </ConfirmDialog>
    </>
  );
}
