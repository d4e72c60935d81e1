import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { recommendationItem } from "../test/fixtures";
import { mockFetch, renderPage } from "../test/render";
import { RecommendationsPage } from "./RecommendationsPage";

const ITEM = recommendationItem({ workflow_id: "w", reasoning: "" });

describe("RecommendationsPage", () => {
  it("sends the URL's filters to the API and links rows to their detail", async () => {
    const fetchMock = mockFetch([
      { path: "/v1/recommendations", body: { items: [ITEM], total: 45, limit: 20, offset: 20 } },
      { path: "/v1/workloads", body: { items: [], total: 0, limit: 500, offset: 0 } },
    ]);
    renderPage(<RecommendationsPage />, { route: "/recommendations?agent=cost&risk=medium&offset=20", role: "viewer" });
    const link = await screen.findByRole("link", { name: "Run code-assist in a spot group" });
    expect(link).toHaveAttribute("href", "/recommendations/rec-1");
    const listCall = fetchMock.mock.calls
      .map(([request]) => new URL((request as Request).url))
      .find((url) => url.pathname === "/v1/recommendations");
    expect(Object.fromEntries(listCall?.searchParams ?? [])).toEqual({ agent: "cost", risk_level: "medium", limit: "20", offset: "20" });
    expect(screen.getByRole("combobox", { name: "Agent" })).toHaveValue("cost");
    expect(screen.getByRole("combobox", { name: "Risk" })).toHaveValue("medium");
    expect(screen.getByRole("combobox", { name: "Status" })).toHaveValue("");
    expect(screen.getByRole("combobox", { name: "Workload" })).toHaveValue("");
    expect(screen.getByRole("button", { name: "Previous page" })).toBeEnabled();
    expect(screen.getByRole("button", { name: "Next page" })).toBeEnabled();
  });

  it("changing a filter queries again from the first page", async () => {
    const fetchMock = mockFetch([
      { path: "/v1/recommendations", body: { items: [ITEM], total: 1, limit: 20, offset: 0 } },
      { path: "/v1/workloads", body: { items: [], total: 0, limit: 500, offset: 0 } },
    ]);
    renderPage(<RecommendationsPage />, { route: "/recommendations?offset=20", role: "viewer" });
    await screen.findByRole("link", { name: ITEM.title });
    await userEvent.selectOptions(screen.getByRole("combobox", { name: "Status" }), "executed");
    await waitFor(() => {
      const urls = fetchMock.mock.calls.map(([request]) => new URL((request as Request).url));
      expect(urls.some((url) => url.searchParams.get("status") === "executed" && url.searchParams.get("offset") === "0")).toBe(true);
    });
    expect(screen.getByRole("button", { name: "Next page" })).toBeDisabled();
  });
});
