import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { mockFetch, renderPage, requestOf, type MockRoute } from "../test/render";
import { WorkloadsPage } from "./WorkloadsPage";
import { unmeasuredDetail, workload, workloadDetail } from "./workloads/fixtures";

const CUSTOMERS = {
  items: [{ customer_id: "demo", name: "Demo Inc.", automation: { operating_mode: "advisory" }, budget: {} }],
  total: 1,
  limit: 500,
  offset: 0,
};

function routes(extra: MockRoute[] = []): MockRoute[] {
  return [
    ...extra,
    {
      path: "/v1/workloads",
      body: {
        items: [workload(), workload({ workload_id: "chat-8b", name: "Chat 8B", slo_ttft_p95_s: null, slo_itl_p95_s: null })],
        total: 2,
        limit: 20,
        offset: 0,
      },
    },
    { path: "/v1/workloads/demo/code-assist", body: workloadDetail() },
    { path: "/v1/workloads/demo/chat-8b", body: unmeasuredDetail({ workload_id: "chat-8b", name: "Chat 8B" }) },
    { path: "/v1/customers", body: CUSTOMERS },
  ];
}

function show(role: "viewer" | "operator" | "admin") {
  return renderPage(<WorkloadsPage />, { route: "/workloads", path: "/workloads", role });
}

async function sentBodies(mock: ReturnType<typeof mockFetch>, method: string): Promise<{ url: string; body: unknown }[]> {
  const found: { url: string; body: unknown }[] = [];
  for (let index = 0; index < mock.mock.calls.length; index += 1) {
    const request = requestOf(mock, index);
    if (request.method === method) found.push({ url: new URL(request.url).pathname, body: await request.clone().json() });
  }
  return found;
}

describe("WorkloadsPage", () => {
  it("lists workloads with model, region, SLO, measured cost and GPUs, linking each", async () => {
    mockFetch(routes());
    show("viewer");
    expect(await screen.findByRole("heading", { level: 1, name: "Workloads" })).toBeInTheDocument();
    const table = await screen.findByRole("table", { name: "Workloads" });
    const link = within(table).getByRole("link", { name: "code-assist" });
    expect(link).toHaveAttribute("href", "/workloads/demo/code-assist");
    expect(within(table).getAllByText("Qwen/Qwen2.5-Coder-7B-Instruct")).toHaveLength(2);
    expect(within(table).getByText("TTFT p95 ≤ 3 s · ITL p95 ≤ 80 ms")).toBeInTheDocument();
    expect(await within(table).findByText("$2,938/mo")).toBeInTheDocument();
    expect(within(table).getByText("4 × NVIDIA A10G")).toBeInTheDocument();
    expect(within(table).getByText(/4 × g5.xlarge \(on_demand\)/)).toBeInTheDocument();
    // chat-8b was never measured: "not measured" with the API's note, never $0.
    const chatRow = within(table).getByRole("link", { name: "chat-8b" }).closest("tr")!;
    await waitFor(() => expect(within(chatRow).getAllByText("not measured")).toHaveLength(2));
    expect(within(chatRow).getAllByText(/no hourly cost record/)[0]).toBeInTheDocument();
    expect(within(chatRow).getByText("none set")).toBeInTheDocument();
  });

  it("shows a viewer no start buttons", async () => {
    mockFetch(routes());
    show("viewer");
    await screen.findByRole("link", { name: "code-assist" });
    expect(screen.queryByRole("button", { name: "Optimize code-assist" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Joint optimization code-assist" })).not.toBeInTheDocument();
    expect(screen.queryByRole("region", { name: "Start options" })).not.toBeInTheDocument();
  });

  it("starts an optimization with the API's default agent and links its recommendations", async () => {
    const mock = mockFetch(
      routes([
        {
          method: "POST",
          path: "/v1/optimizations",
          status: 201,
          body: { workflow_id: "opt/demo/code-assist/cost/2", workflow_ids: ["opt/demo/code-assist/cost/2"] },
        },
      ]),
    );
    show("operator");
    await userEvent.click(await screen.findByRole("button", { name: "Optimize code-assist" }));
    const status = await screen.findByRole("status");
    expect(status).toHaveTextContent("Started an optimization of demo/code-assist");
    expect(within(status).getByRole("link", { name: "Recommendations of code-assist" })).toHaveAttribute(
      "href",
      "/recommendations?workload=code-assist",
    );
    expect(within(status).getByText("opt/demo/code-assist/cost/2")).toBeInTheDocument();
    expect(await sentBodies(mock, "POST")).toEqual([
      { url: "/v1/optimizations", body: { customer_id: "demo", workload_id: "code-assist" } },
    ]);
  });

  it("sends the chosen agents and the joint constraints", async () => {
    const mock = mockFetch(
      routes([
        {
          method: "POST",
          path: "/v1/optimizations",
          status: 201,
          body: { workflow_id: "opt/demo/chat-8b/performance/1", workflow_ids: ["opt/demo/chat-8b/performance/1"] },
        },
        { method: "POST", path: "/v1/joint-optimizations", status: 201, body: { workflow_id: "joint/demo/chat-8b/1" } },
      ]),
    );
    show("operator");
    await userEvent.selectOptions(await screen.findByRole("combobox", { name: "Agents for Optimize" }), "performance");
    await userEvent.click(await screen.findByRole("button", { name: "Optimize chat-8b" }));
    await screen.findByRole("status");
    await userEvent.type(screen.getByRole("spinbutton", { name: "Joint: max monthly cost increase (USD)" }), "250");
    await userEvent.type(screen.getByRole("spinbutton", { name: "Joint: min SLO compliance (%)" }), "95");
    await userEvent.click(screen.getByRole("checkbox", { name: /resolve conflicts with the language model/ }));
    await userEvent.click(screen.getByRole("button", { name: "Joint optimization chat-8b" }));
    await waitFor(() => expect(screen.getByRole("status")).toHaveTextContent("Started a joint optimization of demo/chat-8b"));
    expect(within(screen.getByRole("status")).getByRole("link", { name: "Conflicts of chat-8b" })).toBeInTheDocument();
    expect(await sentBodies(mock, "POST")).toEqual([
      { url: "/v1/optimizations", body: { customer_id: "demo", workload_id: "chat-8b", agents: ["performance"] } },
      {
        url: "/v1/joint-optimizations",
        body: {
          customer_id: "demo",
          workload_id: "chat-8b",
          constraints: { max_monthly_cost_increase_usd: 250, min_slo_compliance: 0.95, joint_reasoning: true },
        },
      },
    ]);
  });

  it("shows the server's detail when a start is refused", async () => {
    mockFetch(
      routes([
        {
          method: "POST",
          path: "/v1/optimizations",
          status: 409,
          body: { detail: "an optimization of demo/code-assist is already running" },
        },
        { method: "POST", path: "/v1/joint-optimizations", status: 503, body: { detail: "the workflow engine is unreachable" } },
      ]),
    );
    show("admin");
    await userEvent.click(await screen.findByRole("button", { name: "Optimize code-assist" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("an optimization of demo/code-assist is already running");
    expect(screen.queryByRole("status")).not.toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Joint optimization code-assist" }));
    await waitFor(() => expect(screen.getByRole("alert")).toHaveTextContent("the workflow engine is unreachable"));
  });

  it("says a refusal for lack of permission is not allowed", async () => {
    mockFetch(routes([{ method: "POST", path: "/v1/optimizations", status: 403, body: { detail: "needs the operator role" } }]));
    show("operator");
    await userEvent.click(await screen.findByRole("button", { name: "Optimize code-assist" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Not allowed: needs the operator role");
  });

  it("filters by customer for a platform principal", async () => {
    const mock = mockFetch(routes());
    show("admin");
    await userEvent.selectOptions(await screen.findByRole("combobox", { name: "Customer" }), await screen.findByRole("option", { name: "Demo Inc. (demo)" }));
    await waitFor(() =>
      expect(
        mock.mock.calls.some((_, index) => {
          const url = new URL(requestOf(mock, index).url);
          return url.pathname === "/v1/workloads" && url.searchParams.get("customer_id") === "demo";
        }),
      ).toBe(true),
    );
  });
});
