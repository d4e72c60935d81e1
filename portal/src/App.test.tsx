import { screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { AppRoutes } from "./App";
import { renderPage } from "./test/render";

describe("AppRoutes", () => {
  it("shows a named, busy loading state while a page's code loads, then the page", async () => {
    renderPage(<AppRoutes />, { route: "/sign-in" });
    const loading = screen.getByRole("region", { name: "Loading page" });
    expect(loading).toHaveAttribute("aria-busy", "true");
    expect(loading).toHaveTextContent("Loading page…");
    expect(await screen.findByRole("heading", { level: 1, name: "Sign in to OptiInfra" })).toBeInTheDocument();
    expect(screen.queryByRole("region", { name: "Loading page" })).not.toBeInTheDocument();
  });

  it("sends a signed-out visitor to the (lazily loaded) sign-in page", async () => {
    renderPage(<AppRoutes />, { route: "/recommendations" });
    expect(await screen.findByRole("textbox", { name: "API key" })).toBeInTheDocument();
  });
});
