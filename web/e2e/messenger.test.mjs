// The web client end to end, as two people would use it: register, set up
// the secure backup, start an encrypted direct chat, talk both ways, send an
// image, verify each other by emoji, then sign in on a new device and read
// the history restored from the backup.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  launch,
  withScreenshots,
  newDevice,
  register,
  setUpSecureBackup,
  signIn,
  PASSWORD,
  PNG_3x2,
} from "./browser.mjs";

const suffix = Date.now().toString(36);
const ALICE = `alice${suffix}`;
const BOB = `bob${suffix}`;
const TIMEOUT = 60_000;

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

function timeline(page) {
  return page.getByRole("log");
}

/** How many message keys the server's backup holds for the signed-in user. */
async function backedUpKeys(page) {
  return page.evaluate(async () => {
    const { accessToken } = JSON.parse(localStorage.getItem("missive.session"));
    const headers = { Authorization: `Bearer ${accessToken}` };
    const version = await (await fetch("/_matrix/client/v3/room_keys/version", { headers })).json();
    if (!version.version) return 0;
    const keys = await (
      await fetch(`/_matrix/client/v3/room_keys/keys?version=${version.version}`, { headers })
    ).json();
    return Object.values(keys.rooms ?? {}).reduce((n, r) => n + Object.keys(r.sessions ?? {}).length, 0);
  });
}

test("two people chat end to end encrypted, verify each other, and restore history", { timeout: 600_000 }, async () => {
  await withScreenshots(browser, "messenger", async () => {
    const alice = await newDevice(browser);
    const bob = await newDevice(browser, { viewport: { width: 390, height: 844 } });

    await register(alice.page, ALICE);
    const aliceKey = await setUpSecureBackup(alice.page);
    assert.match(aliceKey, /^(\w{4} ){11}\w{4}$/, "a recovery key of 12 groups of 4");
    await register(bob.page, BOB);
    await setUpSecureBackup(bob.page);

    // Alice starts a direct chat with Bob from the user directory.
    await alice.page.getByRole("button", { name: "Start chat" }).click();
    await alice.page.getByLabel("Search by name or user ID").fill(BOB);
    await alice.page.getByRole("button", { name: new RegExp(`^Chat ${BOB}`) }).click();
    await alice.page.getByRole("textbox", { name: "Write an encrypted message…" }).waitFor({ timeout: TIMEOUT });
    await alice.page
      .getByRole("textbox", { name: "Write an encrypted message…" })
      .fill("Hello **Bob**, this is encrypted");
    await alice.page.keyboard.press("Enter");
    await timeline(alice.page).getByText("this is encrypted").waitFor({ timeout: TIMEOUT });

    // Bob (on a phone-sized screen) accepts and reads it, decrypted.
    await bob.page.getByRole("region", { name: "Invitations" }).getByRole("button").first().click({ timeout: TIMEOUT });
    await bob.page.getByRole("button", { name: "Accept" }).click();
    await timeline(bob.page).getByText("Hello Bob, this is encrypted").waitFor({ timeout: TIMEOUT });
    assert.equal(
      await timeline(bob.page).locator("strong", { hasText: "Bob" }).count(),
      1,
      "Markdown arrives formatted",
    );

    await bob.page.getByRole("textbox", { name: "Write an encrypted message…" }).fill("Hi Alice, received!");
    await bob.page.keyboard.press("Enter");
    await timeline(alice.page).getByText("Hi Alice, received!").waitFor({ timeout: TIMEOUT });

    // Alice sends an image; Bob's browser decrypts and shows it.
    await alice.page
      .getByTestId("file-input")
      .setInputFiles({ name: "pixels.png", mimeType: "image/png", buffer: PNG_3x2 });
    const image = timeline(bob.page).getByTestId("message-image");
    await image.waitFor({ timeout: TIMEOUT });
    const size = await image.evaluate(async (img) => {
      await img.decode();
      return [img.naturalWidth, img.naturalHeight];
    });
    assert.deepEqual(size, [3, 2], "Bob sees the decrypted image");

    // They verify each other by comparing emoji.
    await alice.page.getByTestId("verify-user").click();
    await bob.page.getByRole("button", { name: "Accept" }).click({ timeout: TIMEOUT });
    const aliceEmoji = alice.page.getByTestId("sas-emoji");
    const bobEmoji = bob.page.getByTestId("sas-emoji");
    await aliceEmoji.waitFor({ timeout: TIMEOUT });
    await bobEmoji.waitFor({ timeout: TIMEOUT });
    const shown = [await aliceEmoji.innerText(), await bobEmoji.innerText()];
    assert.equal(shown[0], shown[1], "both screens show the same emoji");
    assert.equal(await aliceEmoji.locator("li").count(), 7);
    await alice.page.getByRole("button", { name: "They match" }).click();
    await bob.page.getByRole("button", { name: "They match" }).click();
    await alice.page.getByTestId("verification-done").waitFor({ timeout: TIMEOUT });
    await bob.page.getByTestId("verification-done").waitFor({ timeout: TIMEOUT });
    await alice.page.getByRole("dialog").getByRole("button", { name: "Close", exact: true }).last().click();
    await alice.page.getByTestId("verify-user").getByText("Verified").waitFor({ timeout: TIMEOUT });

    // The message keys reach the server's backup (uploaded in the background).
    for (let i = 0; (await backedUpKeys(alice.page)) < 2; i++) {
      assert.ok(i < 120, "room keys were backed up");
      await alice.page.waitForTimeout(500);
    }

    // Alice signs in on a new device and restores history with her key.
    const laptop = await newDevice(browser);
    await signIn(laptop.page, ALICE);
    await laptop.page.getByLabel("Recovery key").fill(aliceKey, { timeout: TIMEOUT });
    await laptop.page.getByRole("button", { name: "Use my recovery key" }).click();
    await laptop.page.getByText(/message keys restored/).waitFor({ timeout: TIMEOUT });
    await laptop.page.getByRole("dialog").getByRole("button", { name: "Close", exact: true }).last().click();
    await laptop.page.getByRole("region", { name: "Direct chats" }).getByRole("button").first().click();
    await timeline(laptop.page).getByText("Hello Bob, this is encrypted").waitFor({ timeout: TIMEOUT });
    await timeline(laptop.page).getByText("Hi Alice, received!").waitFor({ timeout: TIMEOUT });
    await timeline(laptop.page).getByTestId("message-image").waitFor({ timeout: TIMEOUT });

    // Bob signs in on a tablet and verifies it with his phone instead of
    // the recovery key: emoji between his own two devices.
    const tablet = await newDevice(browser);
    await signIn(tablet.page, BOB);
    // Before verifying, the old messages are explained, not shown as errors.
    await tablet.page.getByRole("dialog").getByRole("button", { name: "Close" }).click({ timeout: TIMEOUT });
    await tablet.page.getByRole("region", { name: "Direct chats" }).getByRole("button").first().click();
    const waiting = timeline(tablet.page).getByText("Waiting for the key to this message");
    await waiting.first().waitFor({ timeout: TIMEOUT });
    await timeline(tablet.page).getByRole("button", { name: "Unlock backup" }).first().click();
    await tablet.page.getByRole("button", { name: "Verify with another device" }).click({ timeout: TIMEOUT });
    await bob.page.getByText("Another of your devices wants to verify this one").waitFor({ timeout: TIMEOUT });
    await bob.page.getByRole("button", { name: "Accept" }).click();
    const phoneEmoji = bob.page.getByTestId("sas-emoji");
    const tabletEmoji = tablet.page.getByTestId("sas-emoji");
    await phoneEmoji.waitFor({ timeout: TIMEOUT });
    await tabletEmoji.waitFor({ timeout: TIMEOUT });
    assert.equal(await phoneEmoji.innerText(), await tabletEmoji.innerText());
    await tablet.page.getByRole("button", { name: "They match" }).click();
    await bob.page.getByRole("button", { name: "They match" }).click();
    await tablet.page.getByTestId("verification-done").waitFor({ timeout: TIMEOUT });
    await tablet.page.getByRole("dialog").getByRole("button", { name: "Close", exact: true }).last().click();
    // Verified, the tablet receives the backup key and reads the history.
    await timeline(tablet.page).getByText("Hello Bob, this is encrypted").waitFor({ timeout: TIMEOUT });
    await waiting.first().waitFor({ state: "detached", timeout: TIMEOUT });
    await tablet.page.getByRole("button", { name: "Settings" }).click();
    await tablet.page.getByText("Secure backup is on. This device is verified.").waitFor({ timeout: TIMEOUT });
    await tablet.page.keyboard.press("Escape");

    // From the laptop, Alice signs out her other session (password asked):
    // the first browser is told its session ended.
    await laptop.page.getByRole("button", { name: "Settings" }).click();
    await laptop.page.getByRole("button", { name: "Sign out all other sessions" }).click();
    await laptop.page.getByLabel("Enter your password to confirm").fill(PASSWORD);
    await laptop.page.getByRole("button", { name: "Confirm" }).click();
    await alice.page.getByText("Your session has ended. Sign in again.").waitFor({ timeout: TIMEOUT });

    for (const d of [alice, bob, laptop, tablet]) await d.context.close();
  });
});
