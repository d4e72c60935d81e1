import { screen, within } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { recommendationItem } from "../test/fixtures";
import { mockFetch, renderPage } from "../test/render";
import { DashboardPage } from "./DashboardPage";

const PENDING = recommendationItem({ workflow_id: "w", reasoning: "" });

const EMPTY_PAGE = { items: [], total: 0, limit: 1, offset: 0 };

beforeEach(() => {
  vi.stubGlobal(
    "ResizeObserver",
    class {
      observe() {}
      unobserve() {}
      disconnect() {}
    },
  );
});

describe("DashboardPage", () => {
  it("shows the agents, reports and pending recommendations, never inventing unmeasured figures", async () => {
    mockFetch([
      {
        path: "/v1/recommendations",
        body: (request: Request) =>
          new URL(request.url).searchParams.get("status") === "pending_approval" || new URL(request.url).searchParams.get("agent") === "cost"
            ? { items: [PENDING], total: 1, limit: 100, offset: 0 }
            : EMPTY_PAGE,
      },
      {
        path: "/v1/optimizations",
        body: (request: Request) =>
          new URL(request.url).searchParams.get("agent") === "cost"
            ? {
                items: [
                  {
                    workflow_id: "opt/demo/code-assist/cost/1",
                    run_id: "r",
                    workflow_type: "AgentOptimizationWorkflow",
                    customer_id: "demo",
                    workload_id: "code-assist",
                    agent: "cost",
                    phase: "pending_approval",
                    execution_status: "running",
                    started_at: "2026-12-07T08:00:40Z",
                    closed_at: null,
                  },
                ],
                total: 1,
                limit: 1,
                offset: 0,
              }
            : EMPTY_PAGE,
      },
      {
        path: "/v1/reports/savings",
        body: {
          since: "2026-11-08",
          until: "2026-12-08",
          comparison_window_hours: 168,
          basis: "",
          notes: [],
          changes: [],
          days: [],
          totals: { estimated_savings_usd: 0, realized_savings_usd: 0, realized_gpu_hours_saved: 0, cost_usd: 0, gpu_hours: 0 },
        },
      },
      {
        path: "/v1/reports/slo",
        body: {
          since: "2026-11-08",
          until: "2026-12-08",
          window_seconds: 60,
          basis: "",
          notes: [],
          workloads: [
            {
              customer_id: "demo",
              workload_id: "chat-8b",
              ttft_p95_objective_s: null,
              itl_p95_objective_s: null,
              windows_judged: 0,
              windows_met: 0,
              attainment: null,
              days: [],
              breaches: [],
              breaches_total: 0,
              note: "the workload has no latency objective",
            },
          ],
        },
      },
      {
        path: "/v1/reports/inference-cost",
        body: {
          since: "2026-11-08",
          until: "2026-12-08",
          basis: "",
          notes: [],
          items: [
            {
              customer_id: "demo",
              workload_id: "assistant",
              model_name: "meta-llama/Llama-3.1-8B-Instruct",
              cost_basis: "allocation",
              allocation_method: "multiplier",
              output_input_cost_ratio: 2.5,
              instances: 0,
              total_cost_usd: null,
              gpu_hours: 0,
              idle_gpu_cost_usd: null,
              idle_gpu_hours: null,
              utilization_coverage: null,
              requests: 10,
              prompt_tokens: 100,
              generation_tokens: 10,
              total_tokens: 110,
              cost_per_million_tokens: null,
              input_cost_usd: null,
              output_cost_usd: null,
              input_cost_per_million_tokens: null,
              output_cost_per_million_tokens: null,
              cache_savings_fraction: null,
              notes: ["no hourly cost record of the workload's instances in these days"],
            },
            {
              customer_id: "demo",
              workload_id: "chat-8b",
              model_name: "meta-llama/Llama-3.1-8B-Instruct",
              cost_basis: "allocation",
              allocation_method: "multiplier",
              output_input_cost_ratio: 2.5,
              instances: 3,
              total_cost_usd: 5178,
              gpu_hours: 2160,
              idle_gpu_cost_usd: null,
              idle_gpu_hours: null,
              utilization_coverage: null,
              requests: 40,
              prompt_tokens: 9000,
              generation_tokens: 3000,
              total_tokens: 12000,
              token_covered_cost_usd: 0.0068,
              token_covered_hours: 0.1,
              token_covered_prompt_tokens: 9000,
              token_covered_generation_tokens: 3000,
              token_coverage: 0.0004,
              cost_per_million_tokens: 0.57,
              input_cost_usd: null,
              output_cost_usd: null,
              input_cost_per_million_tokens: null,
              output_cost_per_million_tokens: null,
              cache_savings_fraction: null,
              notes: ["$ per 1M tokens over the 6 minutes with token counts, 0.04% of the cost"],
            },
            {
              customer_id: "demo",
              workload_id: "rag-embed",
              model_name: "intfloat/e5-mistral-7b-instruct",
              cost_basis: "allocation",
              allocation_method: "multiplier",
              output_input_cost_ratio: 2.5,
              instances: 2,
              total_cost_usd: 1137.99,
              gpu_hours: 1440,
              idle_gpu_cost_usd: null,
              idle_gpu_hours: null,
              utilization_coverage: null,
              requests: 0,
              prompt_tokens: 0,
              generation_tokens: 0,
              total_tokens: 0,
              token_covered_cost_usd: null,
              token_covered_hours: 0,
              token_covered_prompt_tokens: 0,
              token_covered_generation_tokens: 0,
              token_coverage: null,
              cost_per_million_tokens: null,
              input_cost_usd: null,
              output_cost_usd: null,
              input_cost_per_million_tokens: null,
              output_cost_per_million_tokens: null,
              cache_savings_fraction: null,
              notes: ["idle GPU cost covers only the instance-hours with a GPU utilization reading", "no token counted in these days"],
            },
          ],
        },
      },
    ]);
    renderPage(<DashboardPage />, { role: "viewer" });
    expect(screen.getByRole("heading", { level: 1, name: "Dashboard" })).toBeInTheDocument();
    for (const name of ["Cost agent", "Performance agent", "Resource agent", "Application agent", "Savings, last 30 days", "SLO attainment", "Spend and cost per 1M tokens", "Pending recommendations"]) {
      expect(screen.getByRole("region", { name })).toBeInTheDocument();
    }
    const pending = screen.getByRole("region", { name: "Pending recommendations" });
    expect(await within(pending).findByRole("link", { name: PENDING.title })).toHaveAttribute("href", "/recommendations/rec-1");
    expect(within(pending).getByText("saves $545/mo")).toBeInTheDocument();

    const costAgent = screen.getByRole("region", { name: "Cost agent" });
    expect(await within(costAgent).findByText("running")).toBeInTheDocument();
    expect(within(costAgent).getByText("$545/mo")).toBeInTheDocument();

    const slo = screen.getByRole("region", { name: "SLO attainment" });
    expect(await within(slo).findByText("not measured")).toBeInTheDocument();
    expect(within(slo).getByText("the workload has no latency objective")).toBeInTheDocument();

    const spend = screen.getByRole("region", { name: "Spend and cost per 1M tokens" });
    expect(await within(spend).findAllByText("not measured")).toHaveLength(3);
    // A rate missing while the spend is measured gives the report's reason about tokens.
    expect(within(spend).getByText("no token counted in these days")).toBeInTheDocument();
    expect(within(spend).queryByText("idle GPU cost covers only the instance-hours with a GPU utilization reading")).toBeNull();
    expect(within(spend).getByText("no hourly cost record of the workload's instances in these days")).toBeInTheDocument();
    // A rate resting on a sliver of the spend says so.
    expect(within(spend).getByText("over 0.040% of the spend (hours with token counts)")).toBeInTheDocument();

    const savings = screen.getByRole("region", { name: "Savings, last 30 days" });
    expect(await within(savings).findByText("not measured")).toBeInTheDocument();
    expect(within(savings).getByText("no executed change in these days")).toBeInTheDocument();
  });
});
