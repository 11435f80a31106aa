// Small formatting helpers shared by the views.

/** 1536 → "1.5 KB" (decimal units, as file managers show them). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value >= 10 ? Math.round(value) : Math.round(value * 10) / 10} ${units[unit]}`;
}

/**
 * A content field shown as text: event content is whatever its sender put
 * there, so a field meant to be text may be a number, an object or missing.
 * Only a string is shown; anything else is "" (never "[object Object]").
 */
export function asText(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** The name to show for a Matrix user ID without a display name. */
export function localpart(userId: string): string {
  return userId.replace(/^@/, "").split(":")[0];
}

/** Up to two initials for an avatar placeholder. */
export function initials(name: string): string {
  // Words that start with a letter or digit: "Préfecture — coordination" is "PC".
  const words = name
    .replace(/^[@#!]/, "")
    .trim()
    .split(/\s+/)
    .filter((w) => /^[\p{L}\p{N}]/u.test(w));
  const letters = words.length > 1 ? [words[0], words[1]] : [words[0] ?? "?"];
  return letters.map((w) => [...w][0]?.toUpperCase() ?? "").join("") || "?";
}

/** Joins names as "A", "A and B", "A, B and 2 others". */
export function joinNames(names: readonly string[], and: string, others: (n: number) => string): string {
  if (names.length <= 1) return names[0] ?? "";
  if (names.length === 2) return `${names[0]} ${and} ${names[1]}`;
  if (names.length === 3) return `${names[0]}, ${names[1]} ${and} ${names[2]}`;
  return `${names[0]}, ${names[1]} ${and} ${others(names.length - 2)}`;
}

/** A user ID from what someone typed: "@bob:example.org", or "bob" on our server. */
export function toUserId(input: string, serverName: string): string | null {
  const text = input.trim();
  if (/^@[^:\s]+:[^\s]+$/.test(text)) return text;
  if (/^[a-z0-9._=\-/+]+$/i.test(text)) return `@${text.toLowerCase()}:${serverName}`;
  return null;
}
