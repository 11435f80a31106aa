import { describe, expect, it } from "vitest";
import { allKeys, detectLanguage, dictionaries, format, translate } from "./i18n";

describe("i18n", () => {
  it("follows the browser's first known language", () => {
    expect(detectLanguage(["fr-FR", "en"])).toBe("fr");
    expect(detectLanguage(["de-DE", "en-GB"])).toBe("en");
    expect(detectLanguage(["de"])).toBe("en");
  });

  it("translates every key into both languages with the same placeholders", () => {
    for (const key of allKeys) {
      const names = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      expect(dictionaries.fr[key], key).toBeTruthy();
      expect(names(dictionaries.fr[key]), key).toEqual(names(dictionaries.en[key]));
    }
  });

  it("fills placeholders", () => {
    expect(format("{a} and {b}", { a: 1 })).toBe("1 and {b}");
    expect(translate("fr", "inviteSent", { user: "Bob" })).toBe("Invitation envoyée à Bob.");
  });
});
