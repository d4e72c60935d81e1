import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { StoredConflict } from "../api/types";
import { mockFetch, renderPage, requestOf, type MockRoute } from "../test/render";
import { ConflictsPage } from "./ConflictsPage";
import { recommendationItem } from "../test/fixtures";
import { workload } from "./workloads/fixtures";

const JOINT = "joint/demo/chat-8b/1";

function conflict(overrides: Partial<StoredConflict> = {}): StoredConflict {
  return {
    conflict: {
      conflict_id: "c1",
      kind: "opposite_scaling",
      agents: ["cost", "performance"],
      titles: ["Remove 1 of 3 g5.8xlarge replicas of chat-8b", "Add a replica to chat-8b"],
      description: "Cost removes a replica that Performance adds.",
      objects: ["demo/chat-8b:replicas"],
    },
    resolution: {
      conflict_id: "c1",
      method: "priority",
      winner: "performance",
      set_aside: ["cost"],
      reason: "The SLO comes before savings.",
      written_by: "rules",
    },
    joint_workflow_id: JOINT,
    customer_id: "demo",
    workload_id: "chat-8b",
    created_at: "2026-12-07T09:00:00Z",
    ...overrides,
  };
}

const REC = recommendationItem({
  id: "rec-perf",
  workflow_id: `${JOINT}/performance/execute`,
  workload_id: "chat-8b",
  agent: "performance",
  title: "Add a replica to chat-8b",
  type: "replica_scaling",
  status: "executed",
});

function routes(extra: MockRoute[] = [], items: StoredConflict[] = [conflict()]): MockRoute[] {
  return [
    ...extra,
    { path: "/v1/conflicts", body: { items, total: items.length, limit: 20, offset: 0 } },
    { path: "/v1/recommendations", body: { items: [REC], total: 1, limit: 500, offset: 0 } },
    { path: "/v1/workloads", body: { items: [workload({ workload_id: "chat-8b" }), workload()], total: 2, limit: 500, offset: 0 } },
    { path: "/v1/customers", body: { items: [{ customer_id: "demo", name: "Demo Inc." }], total: 1, limit: 500, offset: 0 } },
  ];
}

describe("ConflictsPage", () => {
  it("shows each conflict with its proposals, linked recommendations and resolution", async () => {
    mockFetch(routes());
    renderPage(<ConflictsPage />, { route: "/conflicts", path: "/conflicts", role: "viewer" });
    expect(await screen.findByRole("heading", { level: 1, name: "Conflicts" })).toBeInTheDocument();
    const item = await screen.findByRole("article", { name: "Opposite scaling on demo/chat-8b" });
    expect(within(item).getByText("Cost removes a replica that Performance adds.")).toBeInTheDocument();
    expect(await within(item).findByRole("link", { name: "Add a replica to chat-8b" })).toHaveAttribute("href", "/recommendations/rec-perf");
    // The Cost proposal never became a recommendation: its title, and a link to that agent's list.
    expect(within(item).getByText("Remove 1 of 3 g5.8xlarge replicas of chat-8b")).toBeInTheDocument();
    expect(within(item).getByRole("link", { name: "Cost recommendations of chat-8b" })).toHaveAttribute(
      "href",
      "/recommendations?workload=chat-8b&agent=cost",
    );
    expect(within(item).getByText("Performance agent", { selector: "dd" })).toBeInTheDocument();
    expect(within(item).getByText("The SLO comes before savings.")).toBeInTheDocument();
    expect(within(item).getByText("Priority, by rules")).toBeInTheDocument();
    expect(within(item).getByText("won")).toBeInTheDocument();
    expect(within(item).getByText("set aside")).toBeInTheDocument();
    expect(within(item).getByRole("link", { name: `Temporal UI for ${JOINT}` })).toBeInTheDocument();
  });

  it("says when a conflict is not resolved and when there are none", async () => {
    mockFetch(routes([], [conflict({ resolution: null })]));
    renderPage(<ConflictsPage />, { route: "/conflicts", path: "/conflicts", role: "viewer" });
    expect(await screen.findByText("Not resolved yet.")).toBeInTheDocument();
  });

  it("filters by workload from the URL and the select", async () => {
    const mock = mockFetch(routes([], []));
    renderPage(<ConflictsPage />, { route: "/conflicts?workload=chat-8b", path: "/conflicts", role: "admin" });
    expect(await screen.findByText("No conflicts found.")).toBeInTheDocument();
    const conflictUrls = () =>
      mock.mock.calls.map((_, index) => new URL(requestOf(mock, index).url)).filter((url) => url.pathname === "/v1/conflicts");
    expect(conflictUrls()[0]!.searchParams.get("workload_id")).toBe("chat-8b");
    await userEvent.selectOptions(await screen.findByRole("combobox", { name: "Customer" }), "demo");
    await waitFor(() => expect(conflictUrls().some((url) => url.searchParams.get("customer_id") === "demo")).toBe(true));
  });

  it("shows a load failure as an alert", async () => {
    mockFetch([{ path: "/v1/conflicts", status: 503, body: { detail: "the database is unreachable" } }]);
    renderPage(<ConflictsPage />, { route: "/conflicts", path: "/conflicts", role: "viewer" });
    expect(await screen.findByRole("alert")).toHaveTextContent("the database is unreachable");
  });
});
