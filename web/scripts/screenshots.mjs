// Regenerates the README's screenshots (docs/screenshots) and the PWA's PNG
// icons (web/public) against a running missive-server with open
// registration and the built client:
//
//   node web/scripts/screenshots.mjs http://127.0.0.1:8008
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

process.env.MISSIVE_URL = process.argv[2] ?? process.env.MISSIVE_URL ?? "http://127.0.0.1:8008";
const { launch, newDevice, register, setUpSecureBackup } = await import("../e2e/browser.mjs");

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const shots = join(root, "docs/screenshots");
mkdirSync(shots, { recursive: true });
const suffix = Date.now().toString(36).slice(-4);
const PHONE = { width: 390, height: 844 };
const wait = { timeout: 60_000 };

const browser = await launch();
try {
  // The icons, rendered from the SVG.
  const iconPage = await browser.newPage();
  for (const size of [192, 512]) {
    await iconPage.setViewportSize({ width: size, height: size });
    await iconPage.setContent(
      `<style>body{margin:0}</style><img src="${process.env.MISSIVE_URL}/icon.svg" width="${size}" height="${size}">`,
    );
    await iconPage.locator("img").evaluate((img) => img.decode());
    await iconPage.screenshot({ path: join(root, `web/public/icon-${size}.png`), omitBackground: true });
  }

  const marie = await newDevice(browser, { locale: "fr-FR" });
  const paul = await newDevice(browser, { viewport: PHONE, locale: "en-GB" });
  await marie.page.screenshot({ path: join(shots, "desktop-signin.png") });

  await marie.page.getByRole("button", { name: "Nouveau ? Créer un compte" }).click();
  await marie.page.getByLabel("Identifiant").fill(`marie${suffix}`);
  await marie.page.getByLabel("Mot de passe", { exact: true }).fill("correct horse battery staple");
  await marie.page.getByLabel("Confirmer le mot de passe").fill("correct horse battery staple");
  await marie.page.getByRole("button", { name: "Créer un compte" }).click();
  await marie.page.getByRole("button", { name: "Générer ma clé de récupération" }).click(wait);
  await marie.page.getByTestId("recovery-key").waitFor();
  await marie.page.screenshot({ path: join(shots, "desktop-backup.png") });
  await marie.page.getByLabel("J'ai enregistré ma clé de récupération").check();
  await marie.page.getByRole("button", { name: "Configurer la sauvegarde sécurisée" }).click();
  await marie.page.getByText("La sauvegarde sécurisée est active").waitFor(wait);
  await marie.page.getByRole("dialog").getByRole("button", { name: "Fermer", exact: true }).last().click();
  await marie.page.getByRole("button", { name: "Paramètres" }).click();
  await marie.page.getByLabel("Nom affiché").fill("Marie Dupont");
  await marie.page.getByRole("button", { name: "Enregistrer" }).click();
  await marie.page.getByRole("button", { name: "Enregistré" }).waitFor();
  await marie.page.keyboard.press("Escape");

  await register(paul.page, `paul${suffix}`);
  await setUpSecureBackup(paul.page);
  await paul.page.getByRole("button", { name: "Settings" }).click();
  await paul.page.getByLabel("Display name").fill("Paul Martin");
  await paul.page.getByRole("button", { name: "Save" }).click();
  await paul.page.getByRole("button", { name: "Saved" }).waitFor();
  await paul.page.keyboard.press("Escape");

  // A working room and a direct chat.
  await marie.page.getByRole("button", { name: "Nouveau salon" }).click();
  await marie.page.getByLabel("Nom du salon").fill("Cellule de crise");
  await marie.page.getByRole("button", { name: "Créer" }).click();
  await marie.page.getByRole("heading", { name: "Cellule de crise" }).waitFor(wait);
  await marie.page.getByRole("textbox", { name: "Écrire un message chiffré…" }).fill("Point de situation à **9 h**.");
  await marie.page.keyboard.press("Enter");

  await marie.page.getByRole("button", { name: "Nouvelle discussion" }).click();
  await marie.page.getByLabel("Chercher par nom ou identifiant").fill(`paul${suffix}`);
  await marie.page.getByRole("button", { name: /^Discuter / }).click(wait);
  await marie.page.getByRole("heading", { name: "Paul Martin" }).waitFor(wait);
  const composer = marie.page.getByRole("textbox", { name: "Écrire un message chiffré…" });
  await composer.fill("Bonjour Paul, la note pour le cabinet est prête.");
  await marie.page.keyboard.press("Enter");

  await paul.page.getByRole("region", { name: "Invitations" }).getByRole("button").first().click(wait);
  await paul.page.getByRole("button", { name: "Accept" }).click();
  await paul.page.getByRole("log").getByText("la note pour le cabinet").waitFor(wait);
  await paul.page
    .getByRole("textbox", { name: "Write an encrypted message…" })
    .fill("Thanks Marie! Can you share the chart?");
  await paul.page.keyboard.press("Enter");

  const chart = await marie.page.evaluate(() => {
    const c = document.createElement("canvas");
    c.width = 640;
    c.height = 360;
    const g = c.getContext("2d");
    g.fillStyle = "#f5f7fa";
    g.fillRect(0, 0, 640, 360);
    const bars = [120, 190, 160, 250, 300, 220];
    bars.forEach((h, i) => {
      g.fillStyle = i === 4 ? "#b3261e" : "#1d3b72";
      g.fillRect(60 + i * 95, 330 - h, 60, h);
    });
    g.fillStyle = "#1b1f24";
    g.font = "bold 26px sans-serif";
    g.fillText("Demandes traitées par semaine", 40, 40);
    return c.toDataURL("image/png").split(",")[1];
  });
  await marie.page.getByRole("log").getByText("Can you share the chart?").waitFor(wait);
  await marie.page
    .getByTestId("file-input")
    .setInputFiles({ name: "graphique.png", mimeType: "image/png", buffer: Buffer.from(chart, "base64") });
  await composer.fill("Voici le graphique, les chiffres sont provisoires.");
  await marie.page.keyboard.press("Enter");
  await paul.page.getByRole("log").getByTestId("message-image").waitFor(wait);
  await paul.page.getByRole("log").getByText("les chiffres sont provisoires").waitFor(wait);

  // A reaction from Paul.
  const last = paul.page.getByRole("log").locator("article").last();
  await last.hover();
  await last.getByRole("button", { name: "React" }).click();
  await paul.page.getByRole("menuitem", { name: "👍" }).click();
  await marie.page.getByRole("log").getByRole("button", { name: /👍 1/ }).waitFor(wait);
  await marie.page.mouse.move(0, 0);
  await marie.page.screenshot({ path: join(shots, "desktop-chat.png") });
  await paul.page.mouse.move(0, 0);
  await paul.page.screenshot({ path: join(shots, "phone-chat.png") });

  // Emoji verification, seen on the phone.
  await marie.page.getByTestId("verify-user").click();
  await paul.page.getByRole("button", { name: "Accept" }).click(wait);
  await paul.page.getByTestId("sas-emoji").waitFor(wait);
  await paul.page.screenshot({ path: join(shots, "phone-verification.png") });
  await marie.page.getByRole("button", { name: "Ils correspondent" }).click();
  await paul.page.getByRole("button", { name: "They match" }).click();
  await paul.page.getByTestId("verification-done").waitFor(wait);
  await paul.page.getByRole("dialog").getByRole("button", { name: "Close", exact: true }).last().click();
  await paul.page.getByRole("button", { name: "Back" }).click();
  await paul.page.screenshot({ path: join(shots, "phone-rooms.png") });
  console.log(`screenshots written to ${shots}`);
} catch (e) {
  for (const [i, ctx] of browser.contexts().entries()) {
    for (const [j, page] of ctx.pages().entries()) await page.screenshot({ path: `/tmp/failure-${i}-${j}.png` });
  }
  throw e;
} finally {
  await browser.close();
}
