import { describe, expect, it } from "vitest";
import { asText, formatBytes, initials, joinNames, localpart, toUserId } from "./format";

describe("format helpers", () => {
  it("formats sizes", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(100 * 1000 * 1000)).toBe("100 MB");
  });
  it("shows only strings as text", () => {
    expect(asText("salut")).toBe("salut");
    expect(asText({ evil: true })).toBe("");
    expect(asText(42)).toBe("");
    expect(asText(undefined)).toBe("");
  });
  it("derives names and initials", () => {
    expect(localpart("@alice:example.org")).toBe("alice");
    expect(initials("Marie Curie")).toBe("MC");
    expect(initials("@bob:x")).toBe("B");
    expect(initials("")).toBe("?");
    expect(initials("Préfecture — coordination")).toBe("PC");
  });
  it("joins names", () => {
    const others = (n: number) => `${n} others`;
    expect(joinNames(["A"], "and", others)).toBe("A");
    expect(joinNames(["A", "B"], "and", others)).toBe("A and B");
    expect(joinNames(["A", "B", "C", "D", "E"], "and", others)).toBe("A, B and 3 others");
  });
  it("reads user IDs", () => {
    expect(toUserId("@bob:gouv.fr", "x")).toBe("@bob:gouv.fr");
    expect(toUserId("Bob", "gouv.fr")).toBe("@bob:gouv.fr");
    expect(toUserId("not a user", "x")).toBeNull();
  });
});
