import { describe, expect, it } from "vitest";
import { filtersFromParams, toApiQuery, withFilter } from "./filters";

describe("recommendation filters", () => {
  it("maps URL params to the API query", () => {
    const filters = filtersFromParams(
      new URLSearchParams("status=pending_approval&agent=cost&workload=code-assist&risk=medium&customer=demo"),
    );
    expect(toApiQuery(filters, { limit: 20, offset: 40 })).toEqual({
      status: "pending_approval",
      agent: "cost",
      workload_id: "code-assist",
      customer_id: "demo",
      risk_level: "medium",
      limit: 20,
      offset: 40,
    });
  });

  it("leaves out empty and unknown values", () => {
    const filters = filtersFromParams(new URLSearchParams("status=bogus&agent=&risk=extreme&workload=Bad Name"));
    expect(toApiQuery(filters, { limit: 20, offset: 0 })).toEqual({ limit: 20, offset: 0 });
  });

  it("changing a filter restarts paging and removes cleared filters", () => {
    const start = new URLSearchParams("agent=cost&offset=40");
    expect(withFilter(start, "status", "executed").toString()).toBe("agent=cost&status=executed");
    expect(withFilter(start, "agent", "").toString()).toBe("");
  });
});
