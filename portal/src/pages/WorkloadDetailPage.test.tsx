import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { mockFetch, renderPage, requestOf, type MockRoute } from "../test/render";
import { WorkloadDetailPage } from "./WorkloadDetailPage";
import { unmeasuredDetail, workloadDetail } from "./workloads/fixtures";

const SLO = {
  since: "2026-11-08",
  until: "2026-12-08",
  window_seconds: 300,
  notes: [],
  workloads: [
    {
      customer_id: "demo",
      workload_id: "code-assist",
      ttft_p95_objective_s: 3,
      itl_p95_objective_s: 0.08,
      windows_judged: 1000,
      windows_met: 987,
      attainment: 0.987,
      days: [],
      breaches: [],
      breaches_total: 2,
      note: null,
    },
  ],
};

function routes(extra: MockRoute[] = [], detail = workloadDetail()): MockRoute[] {
  return [...extra, { path: "/v1/workloads/demo/code-assist", body: detail }, { path: "/v1/reports/slo", body: SLO }];
}

function show(role: "viewer" | "operator" | "admin") {
  return renderPage(<WorkloadDetailPage />, {
    route: "/workloads/demo/code-assist",
    path: "/workloads/:customerId/:workloadId",
    role,
  });
}

describe("WorkloadDetailPage", () => {
  it("shows the workload, its measured fleet and cost, its SLO and recent changes", async () => {
    mockFetch(routes());
    show("viewer");
    expect(await screen.findByRole("heading", { level: 1, name: "Code Assist" })).toBeInTheDocument();
    const fleet = screen.getByRole("region", { name: "Fleet" });
    expect(within(fleet).getByText("4 (4 × NVIDIA A10G)")).toBeInTheDocument();
    expect(within(fleet).getAllByText("g5.xlarge")).toHaveLength(4);
    expect(within(fleet).getAllByText("on_demand")).toHaveLength(4);
    expect(within(fleet).getByText("Replicas").nextSibling).toHaveTextContent("4");
    expect(within(screen.getByRole("region", { name: "Measured cost" })).getByText("$2,938/mo")).toBeInTheDocument();
    const slo = screen.getByRole("region", { name: "SLO" });
    expect(within(slo).getByText("3 s")).toBeInTheDocument();
    expect(within(slo).getByText("80 ms")).toBeInTheDocument();
    expect(await within(slo).findByText("98.7%")).toBeInTheDocument();
    const changes = screen.getByRole("region", { name: "Recent changes" });
    expect(within(changes).getByRole("link", { name: "Run code-assist in a spot group: 2 on-demand base, 2 spot" })).toHaveAttribute(
      "href",
      "/recommendations/778f686e",
    );
    expect(within(changes).getByText("pending_approval")).toBeInTheDocument();
    expect(within(changes).getByText("$545/mo")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /Optimize/ })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /Joint optimization/ })).not.toBeInTheDocument();
  });

  it("says what was not measured, with the API's note", async () => {
    mockFetch(routes([], unmeasuredDetail({ workload_id: "code-assist" })));
    show("viewer");
    const fleet = await screen.findByRole("region", { name: "Fleet" });
    expect(within(fleet).getByText("not measured")).toBeInTheDocument();
    expect(within(fleet).getByText(/no hourly cost record/)).toBeInTheDocument();
    expect(within(screen.getByRole("region", { name: "Measured cost" })).getByText("not measured")).toBeInTheDocument();
    expect(screen.queryByText("$0")).not.toBeInTheDocument();
  });

  it("starts a joint optimization for an operator", async () => {
    const mock = mockFetch(
      routes([{ method: "POST", path: "/v1/joint-optimizations", status: 201, body: { workflow_id: "joint/demo/code-assist/3" } }]),
    );
    show("operator");
    await userEvent.click(await screen.findByRole("button", { name: "Joint optimization code-assist" }));
    const status = await screen.findByRole("status");
    expect(status).toHaveTextContent("Started a joint optimization of demo/code-assist");
    expect(within(status).getByRole("link", { name: "Temporal UI for joint/demo/code-assist/3" })).toHaveAttribute(
      "href",
      "http://temporal.test:8233/namespaces/default/workflows/joint%2Fdemo%2Fcode-assist%2F3",
    );
    const post = mock.mock.calls.map((_, index) => requestOf(mock, index)).find((request) => request.method === "POST")!;
    expect(await post.json()).toEqual({ customer_id: "demo", workload_id: "code-assist" });
    expect(screen.getByRole("button", { name: "Optimize code-assist" })).toBeInTheDocument();
  });

  it("shows the server's 409 detail", async () => {
    mockFetch(
      routes([{ method: "POST", path: "/v1/optimizations", status: 409, body: { detail: "demo/code-assist is being optimized" } }]),
    );
    show("admin");
    await userEvent.click(await screen.findByRole("button", { name: "Optimize code-assist" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("demo/code-assist is being optimized");
  });

  it("shows a 404 as an alert", async () => {
    mockFetch([{ path: "/v1/workloads/demo/code-assist", status: 404, body: { detail: "no workload demo/code-assist" } }]);
    show("viewer");
    expect(await screen.findByRole("alert")).toHaveTextContent("no workload demo/code-assist");
  });
});
