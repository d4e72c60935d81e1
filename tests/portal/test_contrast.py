"""Colors pass contrast: on each page a signed-in admin reaches from the Main navigation, on a
recommendation's page and on the sign-in page, every visible piece of text meets WCAG 2.1's minimum
contrast (1.4.3): 4.5:1, or 3:1 for large text (at least 24 px, or 18.66 px bold).

Measured in the page: for each visible element with a text node of its own, the computed text color (for SVG
text, its fill) against the effective background, found by walking up the ancestors and compositing each
background color under what is above it until one is opaque (a transparent root counts as white). Chromium
returns computed colors in whatever space they were written in (`oklch(...)`, `color(srgb ...)`, ...), so each
is painted onto a 1x1 sRGB canvas and read back as RGBA. An element whose backdrop has a background image (a
gradient, a picture) on the way cannot be measured this way: it is skipped and counted. So are disabled
controls (WCAG exempts inactive components) and text under an opacity below 1 (its blend is not a simple
composite); the counts are printed per page."""

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.portal.conftest import ExpectedConsole
from tests.portal.stack import PortalStack, sign_in, start_pending
from tests.portal.test_portal import NAV_LINKS

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

NORMAL_TEXT = 4.5
LARGE_TEXT = 3.0

MEASURE = r"""
() => {
  const canvas = document.createElement("canvas");
  canvas.width = 1;
  canvas.height = 1;
  const ctx = canvas.getContext("2d", { colorSpace: "srgb", willReadFrequently: true });
  const cache = new Map();
  // Any CSS color (oklch, color(srgb ...), lab, named, rgb) as sRGB [r, g, b] 0-255 and alpha 0-1.
  function rgba(css) {
    if (cache.has(css)) return cache.get(css);
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = "rgba(0, 0, 0, 0)";
    ctx.fillStyle = css;
    ctx.fillRect(0, 0, 1, 1);
    const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data;
    const value = [r, g, b, a / 255];
    cache.set(css, value);
    return value;
  }
  // `top` (with alpha) over the opaque `bottom`.
  function over(top, bottom) {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  }
  function luminance(color) {
    const [r, g, b] = color.slice(0, 3).map((channel) => {
      const c = channel / 255;
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }
  function ratio(one, two) {
    const [light, dark] = [luminance(one), luminance(two)].sort((x, y) => y - x);
    return (light + 0.05) / (dark + 0.05);
  }
  function hex(color) {
    return "#" + color.slice(0, 3).map((c) => Math.round(c).toString(16).padStart(2, "0")).join("");
  }
  // The opaque color behind `element`, or null when a background image lies on the way.
  function backdrop(element) {
    const layers = [];
    for (let node = element; node; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (style.backgroundImage && style.backgroundImage !== "none") return null;
      const color = rgba(style.backgroundColor);
      if (color[3] > 0) layers.push(color);
      if (color[3] >= 1) break;
    }
    let result = [255, 255, 255, 1];
    for (const layer of layers.reverse()) result = over(layer, result);
    return result;
  }
  function opacityBelowOne(element) {
    for (let node = element; node; node = node.parentElement) {
      if (parseFloat(getComputedStyle(node).opacity) < 1) return true;
    }
    return false;
  }
  function ownText(element) {
    let text = "";
    for (const child of element.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) text += child.textContent;
    }
    return text.replace(/\s+/g, " ").trim();
  }
  function shown(element) {
    const visibility = { opacityProperty: true, visibilityProperty: true, contentVisibilityAuto: true };
    if (!element.checkVisibility(visibility)) return false;
    const box = element.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1) return false; // e.g. Tailwind's sr-only, for screen readers
    const style = getComputedStyle(element);
    if (style.clip === "rect(0px, 0px, 0px, 0px)" || style.clipPath === "inset(50%)") return false;
    return true;
  }
  const checked = [];
  const skipped = { background_image: 0, disabled: 0, opacity: 0 };
  const failures = [];
  for (const element of document.body.querySelectorAll("*")) {
    if (["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "OPTION", "TITLE"].includes(element.tagName)) continue;
    const text = ownText(element);
    if (!text || !shown(element)) continue;
    if (element.closest(":disabled, [aria-disabled='true']")) {
      skipped.disabled += 1;
      continue;
    }
    if (opacityBelowOne(element)) {
      skipped.opacity += 1;
      continue;
    }
    const background = backdrop(element);
    if (background === null) {
      skipped.background_image += 1;
      continue;
    }
    const style = getComputedStyle(element);
    let paint = style.color;
    if (element instanceof SVGElement) {
      if (style.fill === "none" || style.fill.startsWith("url(")) {
        skipped.background_image += 1;
        continue;
      }
      paint = style.fill;
    }
    const foreground = over(rgba(paint), background);
    const size = parseFloat(style.fontSize);
    const bold = parseInt(style.fontWeight, 10) >= 700;
    const large = size >= 24 || (size >= 18.66 && bold);
    const required = large ? 3 : 4.5;
    const measured = ratio(foreground, background);
    checked.push(measured);
    if (measured + 1e-9 < required) {
      failures.push({
        tag: element.tagName.toLowerCase(),
        classes: element.getAttribute("class") || "",
        text: text.slice(0, 60),
        color: paint,
        foreground: hex(foreground),
        background: hex(background),
        ratio: Math.round(measured * 100) / 100,
        required,
        font: `${style.fontSize} ${style.fontWeight}`,
      });
    }
  }
  return { checked: checked.length, skipped, failures };
}
"""


@dataclass
class Measured:
    page: str
    checked: int
    skipped: dict[str, int]
    failures: list[dict[str, Any]]

    def summary(self) -> str:
        skipped = ", ".join(f"{why} {count}" for why, count in self.skipped.items() if count) or "none"
        return f"{self.page}: {self.checked} checked, {sum(self.skipped.values())} skipped ({skipped})"


async def measure(page: Page, name: str) -> Measured:
    await page.wait_for_load_state("networkidle")
    await page.mouse.move(0, 0)  # no hover color on whatever the last click left the pointer over
    result: dict[str, Any] = await page.evaluate(MEASURE)
    return Measured(name, result["checked"], result["skipped"], result["failures"])


def describe(failure: dict[str, Any]) -> str:
    return (
        f"<{failure['tag']} class={failure['classes']!r}> {failure['text']!r}: "
        f"{failure['foreground']} (computed {failure['color']}) on {failure['background']}, "
        f"font {failure['font']}: {failure['ratio']}:1 < {failure['required']}:1"
    )


async def test_colors_pass_contrast(
    stack: PortalStack, admin_api: httpx.AsyncClient, page: Page, expected_console: ExpectedConsole
) -> None:
    expected_console.http_error(
        404,
        "/v1/customers/demo/identity-provider",
        "Settings asks for the customer's identity provider; the demo customer has none (documented 404)",
        required=False,
    )
    pending = await start_pending(admin_api, "support-bot")
    measured: list[Measured] = []

    await page.goto("/sign-in")
    await expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    measured.append(await measure(page, "Sign in"))

    await sign_in(page, stack.keys.admin)
    navigation = page.get_by_role("navigation", name="Main")
    for name in NAV_LINKS:
        await navigation.get_by_role("link", name=name, exact=True).click()
        await expect(page.get_by_role("heading", name=name, exact=True, level=1)).to_be_visible()
        measured.append(await measure(page, name))

    await page.goto(f"/recommendations/{pending.id}")
    await expect(page.get_by_role("heading", name=pending.title, level=1)).to_be_visible()
    await expect(page.get_by_role("region", name="Steps", exact=True)).to_be_visible()
    measured.append(await measure(page, "Recommendation"))

    print("\n".join(["contrast per page:", *(f"  {one.summary()}" for one in measured)]))
    for one in measured:
        assert one.checked > 0, f"{one.page}: no text was measured"
    failures = [f"{one.page}: {describe(failure)}" for one in measured for failure in one.failures]
    assert not failures, f"{len(failures)} texts fail WCAG 2.1 contrast:\n" + "\n".join(failures)
