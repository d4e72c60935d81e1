import { useQuery } from "@tanstack/react-query";
import { useId } from "react";
import { Link, useParams } from "react-router";
import { api, unwrap, type Schemas } from "../api/client";
import { errorText } from "../api/errors";
import { FINAL_STATUSES, type RecommendationDetail, type RecommendationPreview } from "../api/types";
import { useTemporalLink } from "../auth/SessionContext";
import { Card } from "../components/Card";
import { ErrorAlert } from "../components/ErrorAlert";
import { Loading } from "../components/Loading";
import { PageHeading } from "../components/PageHeading";
import { StatusBadge } from "../components/StatusBadge";
import { formatDateTime, formatNumber, formatRatio, formatUsdPerMonth, humanize } from "../lib/format";
import { POLL } from "../lib/queryClient";
import { DecisionPanel } from "./recommendations/DecisionPanel";

type StepResult = Schemas["StepResult"];
type ExecutionStep = Schemas["ExecutionStep"];

const META_LABEL = "text-xs font-medium uppercase tracking-wide text-slate-600";

function Fact({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div>
      <dt className="text-xs font-medium uppercase tracking-wide text-slate-600">{label}</dt>
      <dd className="mt-0.5 text-sm text-slate-900">{children}</dd>
    </div>
  );
}

function Evidence({ recommendation }: { recommendation: RecommendationDetail }) {
  const entries = Object.entries(recommendation.evidence);
  return (
    <Card title="Evidence">
      <dl className="mb-3 grid grid-cols-2 gap-3 sm:grid-cols-4">
        <Fact label="Confidence">{formatRatio(recommendation.confidence, 0)}</Fact>
        <Fact label="Risk">
          <StatusBadge status={recommendation.risk_level} />
        </Fact>
        <Fact label="Cost now">{formatUsdPerMonth(recommendation.current_monthly_cost_usd)}</Fact>
        <Fact label="Cost after">{formatUsdPerMonth(recommendation.projected_monthly_cost_usd)}</Fact>
      </dl>
      {entries.length === 0 ? (
        <p className="text-sm text-slate-600">The agent recorded no evidence figures.</p>
      ) : (
        <table className="min-w-full text-sm">
          <caption className="sr-only">Evidence figures</caption>
          <thead>
            <tr>
              <th scope="col" className="py-1 pr-4 text-left font-semibold text-slate-800">
                Measure
              </th>
              <th scope="col" className="py-1 text-left font-semibold text-slate-800">
                Value
              </th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {entries.map(([name, value]) => (
              <tr key={name}>
                <th scope="row" className="py-1 pr-4 text-left font-mono text-xs font-normal text-slate-700">
                  {name}
                </th>
                <td className="py-1 text-slate-900">{typeof value === "number" ? formatNumber(value, 4) : value}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

/** A step's parameters as the change it plans (as the API's preview shows steps it does not read live). */
function planned(params: Record<string, string>): string {
  const entries = Object.entries(params).sort(([a], [b]) => a.localeCompare(b));
  return entries.length === 0 ? "as described" : entries.map(([name, value]) => `${name} = ${value}`).join("; ");
}

/**
 * While the recommendation awaits a decision: what approving would do now, read live (before → after).
 * Once decided, a live reading answers a question nobody can act on any more (after an execution the
 * objects already look like "after", so every step reads as superseded): show the changes as planned and
 * point to Steps for what ran.
 */
function Preview({
  recommendation,
  preview,
  error,
  loading,
}: {
  recommendation: RecommendationDetail;
  preview?: RecommendationPreview;
  error: unknown;
  loading: boolean;
}) {
  if (recommendation.status !== "pending_approval") {
    const { steps } = recommendation;
    return (
      <Card title="Preview">
        <p className="mb-2 text-sm text-slate-700">
          Decided (<span className="font-mono">{recommendation.status}</span>): this recommendation can no longer be
          approved, so no live preview is read. {steps.length > 0 ? "The changes as planned at the decision:" : null}
        </p>
        {steps.length === 0 ? (
          <p className="text-sm text-slate-600">This recommendation changes nothing (advice only).</p>
        ) : (
          <ol aria-label="Planned changes" className="space-y-3">
            {steps.map((step) => (
              <li key={step.step_id} className="rounded-md border border-slate-200 p-3">
                <p className="text-sm font-medium text-slate-900">{step.description}</p>
                <p className="mt-0.5 font-mono text-xs text-slate-700">
                  {step.action} · {step.target}
                </p>
                <p className="mt-1 text-sm text-slate-800">
                  <span className="text-xs font-semibold text-slate-700">Planned: </span>
                  <span className="break-all font-mono text-xs">{planned(step.params ?? {})}</span>
                </p>
              </li>
            ))}
          </ol>
        )}
        {steps.length > 0 ? (
          <p className="mt-2 text-sm text-slate-700">What ran, and each step&apos;s result, is under Steps.</p>
        ) : null}
      </Card>
    );
  }
  return (
    <Card title="Preview">
      <p className="mb-2 text-sm text-slate-700">What approving would do now, against the objects as they are read live:</p>
      {loading ? <Loading label="Reading the objects the steps change…" /> : null}
      {error ? (
        <p className="rounded-md border border-slate-300 bg-slate-50 px-3 py-2 text-sm text-slate-800">
          No preview: {errorText(error)}
        </p>
      ) : null}
      {preview?.superseded ? (
        <p className="mb-2 rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-900">
          Some step no longer fits the objects as they are now: approving would run no step (superseded).
        </p>
      ) : null}
      {preview && preview.steps.length === 0 ? <p className="text-sm text-slate-600">This recommendation changes nothing (advice only).</p> : null}
      {preview && preview.steps.length > 0 ? (
        <ol aria-label="What approving would do now" className="space-y-3">
          {preview.steps.map((step) => (
            <li key={step.step_id} className="rounded-md border border-slate-200 p-3">
              <p className="text-sm font-medium text-slate-900">{step.description}</p>
              <p className="mt-0.5 font-mono text-xs text-slate-700">
                {step.action} · {step.target}
              </p>
              <div className="mt-2 grid gap-2 md:grid-cols-[minmax(0,1fr)_auto_minmax(0,1fr)] md:items-start">
                <div>
                  <p className="text-xs font-semibold text-slate-700">Before</p>
                  <pre className="whitespace-pre-wrap break-all rounded bg-slate-100 p-2 font-mono text-xs text-slate-900">{step.now}</pre>
                </div>
                <span aria-hidden="true" className="hidden self-center text-slate-700 md:block">
                  →
                </span>
                <div>
                  <p className="text-xs font-semibold text-slate-700">After</p>
                  <pre className="whitespace-pre-wrap break-all rounded bg-blue-50 p-2 font-mono text-xs text-slate-900">{step.after}</pre>
                </div>
              </div>
              {!step.still_fits || step.problem ? (
                <p className="mt-2 text-sm text-red-800">{step.problem ?? "This step no longer fits the object."}</p>
              ) : null}
            </li>
          ))}
        </ol>
      ) : null}
    </Card>
  );
}

function resultsOf(results: readonly StepResult[], step: ExecutionStep): StepResult[] {
  // In the order they came (a compensated step reports its run and then its undoing).
  return results.filter((result) => result.step_id === step.step_id);
}

function ResultLine({ result }: { result: StepResult }) {
  return (
    <li className="text-sm text-slate-800">
      <StatusBadge status={result.status} /> at {formatDateTime(result.finished_at)}
      {result.detail ? <span className="block text-slate-700">{result.detail}</span> : null}
      {result.resource_ids && result.resource_ids.length > 0 ? (
        <span className="block font-mono text-xs text-slate-700">{result.resource_ids.join(", ")}</span>
      ) : null}
    </li>
  );
}

function Steps({ recommendation }: { recommendation: RecommendationDetail }) {
  const { steps, step_results: results } = recommendation;
  const known = new Set(steps.map((step) => step.step_id));
  const extra = results.filter((result) => !known.has(result.step_id));
  return (
    <Card title="Steps">
      {steps.length === 0 ? (
        <p className="text-sm text-slate-600">No steps: this recommendation is advice to act on by hand.</p>
      ) : (
        <ol className="relative space-y-4 border-l-2 border-slate-200 pl-5">
          {steps.map((step, index) => {
            const stepResults = resultsOf(results, step);
            const last = stepResults[stepResults.length - 1];
            return (
              <li key={step.step_id}>
                <span
                  aria-hidden="true"
                  className={`absolute -left-[7px] mt-1.5 h-3 w-3 rounded-full border-2 border-white ${
                    last?.status === "succeeded" ? "bg-green-700" : last ? "bg-red-700" : "bg-slate-400"
                  }`}
                />
                <p className="text-sm font-medium text-slate-900">
                  {index + 1}. {step.description}
                </p>
                <p className="font-mono text-xs text-slate-700">
                  {step.phase} · {step.action} · {step.target}
                </p>
                {stepResults.length > 0 ? (
                  <ul aria-label={`Results of step ${index + 1}`} className="mt-1 space-y-1">
                    {stepResults.map((result, resultIndex) => (
                      <ResultLine key={resultIndex} result={result} />
                    ))}
                  </ul>
                ) : (
                  <p className="mt-1 text-sm text-slate-600">Result: not run</p>
                )}
              </li>
            );
          })}
          {extra.map((result, index) => (
            <li key={`extra-${index}`}>
              <p className="text-sm font-medium text-slate-900">{result.step_id}</p>
              <ul className="mt-1">
                <ResultLine result={result} />
              </ul>
            </li>
          ))}
        </ol>
      )}
    </Card>
  );
}

function Compensations({ recommendation }: { recommendation: RecommendationDetail }) {
  const withCompensation = recommendation.steps.filter((step) => step.compensation);
  const compensated = recommendation.step_results.filter(
    (result) => result.status === "compensated" || result.status === "compensation_failed",
  );
  return (
    <Card title="Compensations">
      {withCompensation.length === 0 ? (
        <p className="text-sm text-slate-600">No step has a compensation.</p>
      ) : (
        <>
          <p className="mb-2 text-sm text-slate-700">If a later step fails, these undo what ran, last first:</p>
          <ul className="space-y-2">
            {withCompensation.map((step) => {
              const done = compensated.find((result) => result.step_id === step.step_id);
              return (
                <li key={step.step_id} className="text-sm">
                  <span className="text-slate-900">{step.compensation?.description}</span>{" "}
                  <span className="font-mono text-xs text-slate-700">
                    ({step.compensation?.action} · {step.compensation?.target}; undoes {step.step_id})
                  </span>
                  {done ? (
                    <span className="ml-1">
                      <StatusBadge status={done.status} />
                    </span>
                  ) : null}
                </li>
              );
            })}
          </ul>
        </>
      )}
    </Card>
  );
}

function Outcome({ recommendation }: { recommendation: RecommendationDetail }) {
  const { outcome, approval } = recommendation;
  return (
    <Card title="Outcome">
      <dl className="grid gap-3 sm:grid-cols-2">
        {approval ? (
          <Fact label="Decision">
            {approval.decision === "approve" ? "Approved" : "Rejected"} by <span className="font-semibold">{approval.approver}</span>
            {approval.note ? ` (${approval.note})` : ""} at {formatDateTime(approval.decided_at)}
            {approval.reason ? <span className="block text-slate-700">Reason: {approval.reason}</span> : null}
          </Fact>
        ) : null}
        {recommendation.status_reason ? <Fact label="Status reason">{recommendation.status_reason}</Fact> : null}
        {outcome ? (
          <>
            <Fact label="Finished">{formatDateTime(outcome.finished_at)}</Fact>
            <Fact label="Verification">
              {outcome.verification_passed === null || outcome.verification_passed === undefined
                ? "not verified"
                : outcome.verification_passed
                  ? "passed"
                  : "failed"}
            </Fact>
            {outcome.failure_reason ? <Fact label="Failure">{outcome.failure_reason}</Fact> : null}
            <Fact label="Estimated savings">{formatUsdPerMonth(outcome.estimated_monthly_savings_usd)}</Fact>
          </>
        ) : null}
      </dl>
      {!outcome ? (
        <p className="mt-2 text-sm text-slate-600">
          {FINAL_STATUSES.has(recommendation.status) ? "No outcome was recorded." : "No outcome yet: the run has not finished."}
        </p>
      ) : null}
    </Card>
  );
}

export function RecommendationDetailPage() {
  const { id = "" } = useParams();
  const recommendation = useQuery({
    queryKey: ["recommendation", id],
    queryFn: ({ signal }) =>
      unwrap(api.GET("/v1/recommendations/{recommendation_id}", { params: { path: { recommendation_id: id } }, signal })),
    refetchInterval: (query) => {
      const status = query.state.data?.status;
      return status && FINAL_STATUSES.has(status) ? false : POLL.live;
    },
  });
  const preview = useQuery({
    queryKey: ["preview", id],
    queryFn: ({ signal }) =>
      unwrap(
        api.GET("/v1/recommendations/{recommendation_id}/preview", { params: { path: { recommendation_id: id } }, signal }),
      ),
    // Only while a decision is open: once decided, "what approving would do now" means nothing.
    enabled: recommendation.data?.status === "pending_approval",
    // A worker reads the live objects (seconds): once per visit, no retries.
    staleTime: Infinity,
    refetchOnWindowFocus: false,
    retry: false,
  });
  const temporalLink = useTemporalLink(recommendation.data?.workflow_id);
  const statusLabelId = useId();

  if (recommendation.isPending) {
    return (
      <>
        <PageHeading>Recommendation</PageHeading>
        <Loading />
      </>
    );
  }
  if (recommendation.isError) {
    return (
      <>
        <PageHeading>Recommendation</PageHeading>
        <ErrorAlert error={recommendation.error} />
        <Link to="/recommendations" className="text-blue-800 underline">
          All recommendations
        </Link>
      </>
    );
  }
  const item = recommendation.data;
  return (
    <>
      <p className="mb-2 text-sm">
        <Link to="/recommendations" className="text-blue-800 underline">
          Recommendations
        </Link>
      </p>
      <PageHeading>{item.title}</PageHeading>
      <div className="mb-4 flex flex-wrap items-end gap-x-6 gap-y-2 text-sm">
        {/* A <dd> (role definition) may be named, so the status reads as "Status" (aria-labelledby its <dt>). */}
        <dl className="flex flex-wrap items-end gap-x-6 gap-y-2">
          <div>
            <dt id={statusLabelId} className={META_LABEL}>
              Status
            </dt>
            <dd aria-labelledby={statusLabelId} className="mt-0.5">
              <StatusBadge status={item.status} />
            </dd>
          </div>
          <div>
            <dt className={META_LABEL}>Workload</dt>
            <dd className="mt-0.5">
              <Link
                className="font-mono text-blue-800 underline"
                to={`/workloads/${encodeURIComponent(item.customer_id)}/${encodeURIComponent(item.workload_id)}`}
              >
                {item.customer_id}/{item.workload_id}
              </Link>
            </dd>
          </div>
          <div>
            <dt className={META_LABEL}>Agent</dt>
            <dd className="mt-0.5 text-slate-900">
              {humanize(item.agent)} agent · {humanize(item.type)}
            </dd>
          </div>
          <div>
            <dt className={META_LABEL}>Saves</dt>
            <dd className="mt-0.5 text-slate-900">{formatUsdPerMonth(item.estimated_monthly_savings_usd)}</dd>
          </div>
          <div>
            <dt className={META_LABEL}>Created</dt>
            <dd className="mt-0.5 text-slate-900">{formatDateTime(item.created_at)}</dd>
          </div>
        </dl>
        {temporalLink ? (
          <a href={temporalLink} className="text-blue-800 underline">
            Open in Temporal UI
          </a>
        ) : null}
      </div>
      <div className="grid gap-4 lg:grid-cols-2">
        <div className="space-y-4">
          <DecisionPanel recommendationId={item.id} status={item.status} />
          <Card title="Reasoning">
            <p className="whitespace-pre-line text-sm leading-relaxed text-slate-900">{item.reasoning}</p>
          </Card>
          <Evidence recommendation={item} />
          <Outcome recommendation={item} />
        </div>
        <div className="space-y-4">
          <Preview recommendation={item} preview={preview.data} error={preview.error} loading={preview.isLoading} />
          <Steps recommendation={item} />
          <Compensations recommendation={item} />
        </div>
      </div>
    </>
  );
}
