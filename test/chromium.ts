/**
 * The headless browser of the tests that render or run pages (test/printing/chromium_png.test.ts,
 * test/browser/bundle.test.ts): Debian's `chromium`, which `.ci/run` installs where apt can.
 */

import { execFileSync } from "node:child_process";

/** The first Chromium-family browser on PATH (or CHROME_PATH), else null. */
export function findChromium(): string | null {
  const candidates = [process.env["CHROME_PATH"], "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];
  for (const c of candidates) {
    if (!c) continue;
    try {
      execFileSync(c, ["--version"], { stdio: "pipe", timeout: 20_000 });
      return c;
    } catch {
      // not this one
    }
  }
  return null;
}
