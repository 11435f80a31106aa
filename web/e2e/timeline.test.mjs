// The conversation features around the timeline, in two browsers: rooms,
// invitations, replies, edits, reactions, deletion, typing notices, read
// receipts, back-pagination after a reload (the session is kept), the
// size-limit message for files, browser notifications, the French
// interface, and signing out.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launch, withScreenshots, newDevice, register, setUpSecureBackup } from "./browser.mjs";

const suffix = Date.now().toString(36);
const TIMEOUT = 60_000;
const wait = { timeout: TIMEOUT };

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const log = (page) => page.getByRole("log");
const composer = (page) => page.getByRole("textbox", { name: /Write an? (encrypted )?message/ });

async function send(page, text) {
  await composer(page).fill(text);
  await page.keyboard.press("Enter");
  await log(page).getByText(text, { exact: true }).waitFor(wait);
}

/** The message article holding `text`. */
const message = (page, text) => log(page).locator("article", { hasText: text });

test("rooms, replies, edits, reactions, receipts, typing and pagination", { timeout: 600_000 }, async () => {
  await withScreenshots(browser, "timeline", async () => {
    const claire = await newDevice(browser);
    const hugo = await newDevice(browser, { viewport: { width: 390, height: 844 } });
    await register(claire.page, `claire${suffix}`);
    await setUpSecureBackup(claire.page);
    await register(hugo.page, `hugo${suffix}`);
    await hugo.page.getByRole("button", { name: "Later" }).click();

    // Claire creates a private (encrypted) room and invites Hugo.
    await claire.page.getByRole("button", { name: "New room" }).click();
    await claire.page.getByLabel("Room name").fill("Préfecture — coordination");
    await claire.page.getByRole("button", { name: "Create" }).click();
    await claire.page.getByRole("heading", { name: "Préfecture — coordination" }).waitFor(wait);
    await claire.page.getByText("End-to-end encrypted ·").waitFor(wait);
    await claire.page.getByRole("button", { name: "Invite", exact: true }).click();
    await claire.page.getByLabel("Search by name or user ID").fill(`hugo${suffix}`);
    await claire.page.getByRole("button", { name: new RegExp(`^Invite hugo${suffix}`) }).click();
    await log(claire.page)
      .getByText(/invited hugo/)
      .waitFor(wait);

    // The room list filter finds it without accents; Hugo joins from his invitation.
    await hugo.page.getByLabel("Filter by name").fill("prefecture");
    await hugo.page
      .getByRole("region", { name: "Invitations" })
      .getByRole("button", { name: /Préfecture/ })
      .click(wait);
    await hugo.page.getByRole("button", { name: "Accept" }).click();
    await composer(hugo.page).waitFor(wait);

    // A public room is found in the directory and joined without invitation.
    await claire.page.getByRole("button", { name: "New room" }).click();
    await claire.page.getByLabel("Room name").fill(`Annonces ${suffix}`);
    await claire.page.getByLabel(/Public: anyone/).check();
    await claire.page.getByRole("button", { name: "Create" }).click();
    await claire.page.getByText("Not encrypted ·").waitFor(wait);
    await hugo.page.getByRole("button", { name: "Back" }).click();
    await hugo.page.getByRole("button", { name: "Explore public rooms" }).click();
    await hugo.page.getByLabel("Search rooms, or type #alias:server").fill("annonces");
    await hugo.page.getByRole("button", { name: `Join Annonces ${suffix}` }).click(wait);
    await hugo.page.getByRole("heading", { name: `Annonces ${suffix}` }).waitFor(wait);
    await hugo.page.getByRole("button", { name: "Back" }).click();
    await hugo.page
      .getByRole("region", { name: "Rooms" })
      .getByRole("button", { name: /Préfecture/ })
      .click();
    await claire.page
      .getByRole("region", { name: "Rooms" })
      .getByRole("button", { name: /Préfecture/ })
      .click();

    await send(claire.page, "Réunion à 14 h en salle 2");
    await log(hugo.page).getByText("Réunion à 14 h en salle 2").waitFor(wait);

    // Typing notices and read receipts.
    await composer(hugo.page).fill("je");
    await claire.page.getByText(/is typing/).waitFor(wait);
    await composer(hugo.page).fill("");
    await message(claire.page, "Réunion à 14 h").getByTestId("seen-by").getByText(/hugo/i).waitFor(wait);

    // Hugo replies; Claire sees the quote.
    const original = message(hugo.page, "Réunion à 14 h en salle 2");
    await original.hover();
    await original.getByRole("button", { name: "Reply" }).click();
    await hugo.page.getByText(/Replying to/).waitFor();
    await send(hugo.page, "Je serai là");
    await message(claire.page, "Je serai là").locator(".reply-quote", { hasText: "Réunion à 14 h" }).waitFor(wait);

    // Claire edits her message; both see the new text marked as edited.
    const mine = message(claire.page, "Réunion à 14 h en salle 2").first();
    await mine.hover();
    await mine.getByRole("button", { name: "Edit" }).click();
    await claire.page.getByText("Editing message").waitFor();
    await claire.page.waitForFunction(
      () => document.querySelector(".composer textarea")?.value === "Réunion à 14 h en salle 2",
    );
    await composer(claire.page).fill("Réunion à 15 h en salle 2");
    await claire.page.keyboard.press("Enter");
    await message(hugo.page, "Réunion à 15 h en salle 2").first().getByText("(edited)").waitFor(wait);
    assert.equal(await log(hugo.page).getByText("Réunion à 14 h en salle 2").count(), 0);

    // A reaction, then taking it back.
    const edited = message(hugo.page, "Réunion à 15 h").first();
    await edited.hover();
    await edited.getByRole("button", { name: "React" }).click();
    await hugo.page.getByRole("menuitem", { name: "🎉" }).click();
    const claireSees = message(claire.page, "Réunion à 15 h").first().getByRole("button", { name: "🎉 1" });
    await claireSees.waitFor(wait);
    await message(hugo.page, "Réunion à 15 h").first().getByRole("button", { name: "🎉 1" }).click();
    await claireSees.waitFor({ state: "detached", timeout: TIMEOUT });

    // Hugo deletes his reply.
    const reply = message(hugo.page, "Je serai là");
    await reply.hover();
    await reply.getByRole("button", { name: "Delete" }).click();
    await log(claire.page).getByText("Message deleted").waitFor(wait);
    assert.equal(await log(claire.page).getByText("Je serai là").count(), 0);

    // A file over the server's limit is refused with a plain message.
    await claire.page.getByTestId("file-input").setInputFiles({
      name: "rapport.pdf",
      mimeType: "application/pdf",
      buffer: Buffer.alloc(300 * 1024, 1),
    });
    await claire.page.getByText(/rapport\.pdf is too large: this server accepts files up to 200 KB/).waitFor(wait);
    // A file within it arrives and downloads.
    await claire.page.getByTestId("file-input").setInputFiles({
      name: "ordre-du-jour.txt",
      mimeType: "text/plain",
      buffer: Buffer.from("1. Budget\n2. Calendrier\n"),
    });
    const file = message(hugo.page, "ordre-du-jour.txt");
    await file.waitFor(wait);
    const [download] = await Promise.all([
      hugo.page.waitForEvent("download", wait),
      file.getByRole("button", { name: "Download" }).click(),
    ]);
    assert.equal(download.suggestedFilename(), "ordre-du-jour.txt");
    const chunks = [];
    for await (const c of await download.createReadStream()) chunks.push(c);
    assert.equal(Buffer.concat(chunks).toString(), "1. Budget\n2. Calendrier\n", "Hugo's browser decrypted the file");

    // Files can be dropped onto the room too.
    const dropped = await claire.page.evaluateHandle(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(["déposé"], "glisse.txt", { type: "text/plain" }));
      return dt;
    });
    await claire.page.dispatchEvent("section.room", "dragover", { dataTransfer: dropped });
    await claire.page.getByText("Drop files to send them").waitFor();
    await claire.page.dispatchEvent("section.room", "drop", { dataTransfer: dropped });
    await message(hugo.page, "glisse.txt").waitFor(wait);

    // Forty more messages, then a reload: the session is kept, and older
    // messages come back by scrolling up to the start of the room.
    for (let i = 1; i <= 40; i++) {
      await composer(claire.page).fill(`point ${i}`);
      await claire.page.keyboard.press("Enter");
    }
    await log(claire.page).getByText("point 40", { exact: true }).waitFor(wait);
    await log(hugo.page).getByText("point 40", { exact: true }).waitFor(wait);
    await hugo.page.reload();
    await hugo.page
      .getByRole("region", { name: "Rooms" })
      .getByRole("button", { name: /Préfecture/ })
      .click(wait);
    await log(hugo.page).getByText("point 40", { exact: true }).waitFor(wait);
    for (
      let i = 0;
      i < 10 && (await log(hugo.page).getByText("This is the start of the conversation.").count()) === 0;
      i++
    ) {
      await hugo.page.getByRole("button", { name: "Load older messages" }).click(wait);
      await hugo.page
        .getByRole("button", { name: "Load older messages" })
        .or(log(hugo.page).getByText("This is the start of the conversation."))
        .first()
        .waitFor(wait);
    }
    await log(hugo.page).getByText("point 1", { exact: true }).waitFor(wait);
    await log(hugo.page).getByText("Réunion à 15 h en salle 2").waitFor(wait);

    // Browser notifications while Missive is in the background. The page's
    // Notification constructor is wrapped to see what the app shows.
    await hugo.context.grantPermissions(["notifications"]);
    await hugo.page.getByRole("button", { name: "Back" }).click();
    await hugo.page.getByRole("button", { name: "Settings" }).click();
    await hugo.page.getByLabel("Show notifications on this device").check();
    await hugo.page.keyboard.press("Escape");
    await hugo.page.evaluate(() => {
      const Shown = window.Notification;
      window.__shown = [];
      window.Notification = class extends Shown {
        constructor(title, options) {
          super(title, options);
          window.__shown.push({ title, body: options?.body });
        }
      };
      Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
    });
    await composer(claire.page).fill("Notifie-moi");
    await claire.page.keyboard.press("Enter");
    await hugo.page.waitForFunction(() => window.__shown.some((n) => n.body === "Notifie-moi"), null, wait);
    await hugo.page.evaluate(() => delete document.hidden);

    // The interface in French, then signing out.
    await hugo.page.getByRole("button", { name: "Settings" }).click();
    await hugo.page.getByLabel("Language").selectOption("fr");
    await hugo.page.getByRole("heading", { name: "Paramètres" }).waitFor();
    await hugo.page.getByRole("button", { name: "Se déconnecter" }).click();
    await hugo.page.getByRole("button", { name: "Se connecter" }).waitFor(wait);

    for (const d of [claire, hugo]) await d.context.close();
  });
});
