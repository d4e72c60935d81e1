// Starting an agent optimization (POST /v1/optimizations) or a joint optimization
// (POST /v1/joint-optimizations) of a workload, shared by the Workloads and Workload detail pages.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useId, useState } from "react";
import { Link } from "react-router";
import { api, unwrap, type Schemas } from "../../api/client";
import { AGENTS, type AgentKind } from "../../api/types";
import { useTemporalLink } from "../../auth/SessionContext";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { ErrorAlert, StatusMessage } from "../../components/ErrorAlert";
import { SelectField, TextField, type Option } from "../../components/Field";
import { humanize } from "../../lib/format";

/** What the options panel holds. `agent` "" lets the API pick its default (the Cost agent). */
export interface StartOptions {
  agent: "" | AgentKind | "all";
  maxCostIncrease: string;
  minSloPercent: string;
  jointReasoning: boolean;
}

export const DEFAULT_OPTIONS: StartOptions = { agent: "", maxCostIncrease: "", minSloPercent: "", jointReasoning: false };

const AGENT_OPTIONS: Option[] = [
  { value: "", label: "API default (Cost agent)" },
  ...AGENTS.map((agent) => ({ value: agent, label: `${humanize(agent)} agent` })),
  { value: "all", label: "All four agents" },
];

export interface WorkloadRef {
  customer_id: string;
  workload_id: string;
}

// The generated types (openapi-typescript --default-non-nullable false) leave fields with a server default
// optional, so the portal leaves them out and the API applies its own defaults.
type OptimizationBody = Schemas["OptimizationCreate"];
type ConstraintsBody = Schemas["ConstraintsBody"];
type JointBody = Schemas["JointOptimizationCreate"];

/** The body of POST /v1/optimizations for these options. */
export function optimizationBody(workload: WorkloadRef, options: StartOptions): OptimizationBody {
  const body: OptimizationBody = { customer_id: workload.customer_id, workload_id: workload.workload_id };
  if (options.agent === "all") body.agents = [...AGENTS];
  else if (options.agent) body.agents = [options.agent];
  return body;
}

/** The body of POST /v1/joint-optimizations: every agent (the API's default) under the given constraints. */
export function jointBody(workload: WorkloadRef, options: StartOptions): JointBody {
  const body: JointBody = { customer_id: workload.customer_id, workload_id: workload.workload_id };
  const constraints: ConstraintsBody = {};
  const increase = options.maxCostIncrease.trim();
  if (increase !== "") constraints.max_monthly_cost_increase_usd = Number(increase);
  const slo = options.minSloPercent.trim();
  if (slo !== "") constraints.min_slo_compliance = Number(slo) / 100;
  if (options.jointReasoning) constraints.joint_reasoning = true;
  if (Object.keys(constraints).length > 0) body.constraints = constraints;
  return body;
}

/** Why the options cannot be sent, or null. */
export function optionsProblem(options: StartOptions): string | null {
  const increase = options.maxCostIncrease.trim();
  if (increase !== "" && !(Number(increase) >= 0)) return "The maximum monthly cost increase must be a number of dollars, 0 or more.";
  const slo = options.minSloPercent.trim();
  if (slo !== "" && !(Number(slo) >= 0 && Number(slo) <= 100)) return "The minimum SLO compliance must be a percentage from 0 to 100.";
  return null;
}

export type StartKind = "optimization" | "joint";

export interface Started {
  kind: StartKind;
  workload: WorkloadRef;
  workflowIds: string[];
}

/** The mutation that starts either kind, and what it last started or failed with. */
export function useStartOptimization(options: StartOptions) {
  const queryClient = useQueryClient();
  const [problem, setProblem] = useState<string | null>(null);
  const mutation = useMutation({
    mutationFn: async ({ kind, workload }: { kind: StartKind; workload: WorkloadRef }): Promise<Started> => {
      if (kind === "optimization") {
        const started = await unwrap(api.POST("/v1/optimizations", { body: optimizationBody(workload, options) }));
        return { kind, workload, workflowIds: started.workflow_ids.length ? started.workflow_ids : [started.workflow_id] };
      }
      const started = await unwrap(api.POST("/v1/joint-optimizations", { body: jointBody(workload, options) }));
      return { kind, workload, workflowIds: [started.workflow_id] };
    },
    onSuccess: (_started, { workload }) => {
      void queryClient.invalidateQueries({ queryKey: ["optimizations"] });
      void queryClient.invalidateQueries({ queryKey: ["recommendations"] });
      void queryClient.invalidateQueries({ queryKey: ["workload", workload.customer_id, workload.workload_id] });
    },
  });
  const start = (kind: StartKind, workload: WorkloadRef) => {
    const found = kind === "joint" ? optionsProblem(options) : null;
    setProblem(found);
    if (found) {
      mutation.reset();
      return;
    }
    mutation.mutate({ kind, workload });
  };
  const pendingFor = (workload: WorkloadRef): boolean =>
    mutation.isPending &&
    mutation.variables?.workload.customer_id === workload.customer_id &&
    mutation.variables?.workload.workload_id === workload.workload_id;
  return { start, pendingFor, started: mutation.data ?? null, error: problem ?? mutation.error, isPending: mutation.isPending };
}

/** The two start buttons, named "Optimize <workload_id>" and "Joint optimization <workload_id>". */
export function StartButtons({
  workload,
  onStart,
  pending,
  compact = false,
}: {
  workload: WorkloadRef;
  onStart: (kind: StartKind, workload: WorkloadRef) => void;
  pending: boolean;
  compact?: boolean;
}) {
  const id = workload.workload_id;
  return (
    <div className="flex flex-wrap gap-2">
      <Button variant="primary" disabled={pending} onClick={() => onStart("optimization", workload)}>
        Optimize{compact ? <span className="sr-only"> {id}</span> : ` ${id}`}
      </Button>
      <Button disabled={pending} onClick={() => onStart("joint", workload)}>
        Joint optimization{compact ? <span className="sr-only"> {id}</span> : ` ${id}`}
      </Button>
    </div>
  );
}

function WorkflowLink({ workflowId }: { workflowId: string }) {
  const href = useTemporalLink(workflowId);
  return (
    <li>
      <span className="font-mono text-xs">{workflowId}</span>
      {href ? (
        <>
          {" "}
          (
          <a href={href} target="_blank" rel="noreferrer" className="text-blue-800 underline">
            Temporal UI<span className="sr-only"> for {workflowId}</span>
          </a>
          )
        </>
      ) : null}
    </li>
  );
}

/** role=status after a start (with links to where its results appear), role=alert after a failure. */
export function StartResult({ started, error }: { started: Started | null; error: unknown }) {
  if (error) return <ErrorAlert error={error} prefix="Could not start:" />;
  if (!started) return null;
  const { workload, kind, workflowIds } = started;
  const recommendations = `/recommendations?workload=${encodeURIComponent(workload.workload_id)}`;
  return (
    <StatusMessage>
      <p>
        Started {kind === "joint" ? "a joint optimization" : workflowIds.length > 1 ? `${workflowIds.length} optimizations` : "an optimization"} of{" "}
        <span className="font-mono">
          {workload.customer_id}/{workload.workload_id}
        </span>
        .{" "}
        <Link to={recommendations} className="font-medium text-blue-800 underline">
          Recommendations of {workload.workload_id}
        </Link>
        {kind === "joint" ? (
          <>
            {" · "}
            <Link to={`/conflicts?workload=${encodeURIComponent(workload.workload_id)}`} className="font-medium text-blue-800 underline">
              Conflicts of {workload.workload_id}
            </Link>
          </>
        ) : null}
      </p>
      <ul className="mt-1 space-y-0.5">
        {workflowIds.map((workflowId) => (
          <WorkflowLink key={workflowId} workflowId={workflowId} />
        ))}
      </ul>
    </StatusMessage>
  );
}

/** The options of the next start: which agent(s) "Optimize" runs, and a joint optimization's constraints. */
export function StartOptionsPanel({ value, onChange }: { value: StartOptions; onChange: (next: StartOptions) => void }) {
  const reasoningId = useId();
  return (
    <Card title="Start options">
      <div className="grid gap-3 md:grid-cols-4">
        <SelectField
          label="Agents for Optimize"
          options={AGENT_OPTIONS}
          value={value.agent}
          onChange={(event) => onChange({ ...value, agent: event.target.value as StartOptions["agent"] })}
          hint="One workflow per agent."
        />
        <TextField
          label="Joint: max monthly cost increase (USD)"
          type="number"
          min={0}
          step="any"
          inputMode="decimal"
          value={value.maxCostIncrease}
          onChange={(event) => onChange({ ...value, maxCostIncrease: event.target.value })}
          hint="Blank: no limit."
        />
        <TextField
          label="Joint: min SLO compliance (%)"
          type="number"
          min={0}
          max={100}
          step="any"
          inputMode="decimal"
          value={value.minSloPercent}
          onChange={(event) => onChange({ ...value, minSloPercent: event.target.value })}
          hint="Refuse SLO-risking changes below this share of windows within the SLO. Blank: no limit."
        />
        <div className="flex items-start gap-2 pt-6">
          <input
            id={reasoningId}
            type="checkbox"
            className="mt-1 h-4 w-4"
            checked={value.jointReasoning}
            onChange={(event) => onChange({ ...value, jointReasoning: event.target.checked })}
          />
          <label htmlFor={reasoningId} className="text-sm text-slate-800">
            Joint: resolve conflicts with the language model (rules otherwise)
          </label>
        </div>
      </div>
    </Card>
  );
}
