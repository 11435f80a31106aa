// Shared set-up for the browser tests: Debian's chromium driven by
// playwright-core (no browser download), one context per simulated device.
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const BASE_URL = process.env.MISSIVE_URL ?? "http://127.0.0.1:8008";
export const PASSWORD = "correct horse battery staple";

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A new device: an isolated browser context with its own storage. */
export async function newDevice(browser, { viewport = { width: 1280, height: 800 }, locale = "en-US" } = {}) {
  const context = await browser.newContext({ viewport, locale, baseURL: BASE_URL });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`[page error] ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") console.error(`[console] ${m.text()}`);
  });
  page.on("dialog", (d) => d.accept());
  await page.goto("/");
  return { context, page };
}

export async function register(page, username) {
  await page.getByRole("button", { name: "New here? Create an account" }).click();
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByLabel("Confirm password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
}

export async function signIn(page, username) {
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** Accepts the first-run offer: generate, "save" and confirm the recovery key. */
export async function setUpSecureBackup(page) {
  await page.getByRole("button", { name: "Generate my recovery key" }).click();
  const key = (await page.getByTestId("recovery-key").textContent()).trim();
  await page.getByLabel("I have saved my recovery key").check();
  await page.getByRole("button", { name: "Set up secure backup" }).click();
  await page.getByText("Secure backup is on").waitFor({ timeout: 60_000 });
  await page.getByRole("dialog").getByRole("button", { name: "Close", exact: true }).last().click();
  return key;
}

/** A small PNG (3x2 pixels), built by hand so the test needs no image tool. */
export const PNG_3x2 = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAMAAAACCAIAAAASFvFNAAAAFklEQVR4nGP4z8DwHwyBDAYGBgYGBgA/3QX7WNBFcAAAAABJRU5ErkJggg==",
  "base64",
);

/** Runs `body`; on failure saves a screenshot of every open page (to
 * $E2E_ARTIFACTS or the temp dir) before failing, for the CI log. */
export async function withScreenshots(browser, name, body) {
  try {
    await body();
  } catch (e) {
    const dir = process.env.E2E_ARTIFACTS ?? tmpdir();
    for (const [i, context] of browser.contexts().entries()) {
      for (const [j, page] of context.pages().entries()) {
        const path = join(dir, `${name}-${i}-${j}.png`);
        await page.screenshot({ path }).catch(() => undefined);
        console.error(`screenshot: ${path}`);
      }
    }
    throw e;
  }
}
