import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { Button } from "./Button";

describe("Button", () => {
  it("shows a disabled button of any variant as slate-600 on slate-100, not faded by opacity", () => {
    for (const variant of ["primary", "secondary", "danger", "ghost"] as const) {
      render(
        <Button variant={variant} disabled>
          {variant}
        </Button>,
      );
      const button = screen.getByRole("button", { name: variant });
      expect(button).toBeDisabled();
      expect(button.className).toContain("disabled:bg-slate-100");
      expect(button.className).toContain("disabled:text-slate-600");
      expect(button.className).not.toMatch(/opacity-/);
      // Hover colours only apply to enabled buttons, so they cannot override the disabled ones.
      expect(button.className).not.toMatch(/(^|\s)hover:/);
    }
  });
});
