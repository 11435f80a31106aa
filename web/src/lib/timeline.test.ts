import { describe, expect, it } from "vitest";
import { buildTimeline, type MessageItem, type RawEvent } from "./timeline";

const day = Date.UTC(2026, 10, 20, 12, 0, 0);
let n = 0;
function msg(sender: string, body: string, extra: Partial<RawEvent> = {}): RawEvent {
  n += 1;
  return {
    id: `$${n}`,
    type: "m.room.message",
    sender,
    ts: day + n * 1000,
    content: { msgtype: "m.text", body },
    ...extra,
  };
}
const messages = (items: ReturnType<typeof buildTimeline>) =>
  items.filter((i): i is MessageItem => i.kind === "message");

describe("buildTimeline", () => {
  it("applies the latest edit by the original sender only", () => {
    const original = msg("@a:x", "helo");
    const edit1 = msg("@a:x", "* hello", {
      content: { body: "* hello", "m.new_content": { msgtype: "m.text", body: "hello" } },
      relatesTo: { rel_type: "m.replace", event_id: original.id },
    });
    const edit2 = msg("@a:x", "* hello!", {
      content: { body: "* hello!", "m.new_content": { msgtype: "m.text", body: "hello!" } },
      relatesTo: { rel_type: "m.replace", event_id: original.id },
    });
    const forged = msg("@b:x", "* pwned", {
      content: { body: "* pwned", "m.new_content": { msgtype: "m.text", body: "pwned" } },
      relatesTo: { rel_type: "m.replace", event_id: original.id },
    });
    const items = messages(buildTimeline([original, edit1, edit2, forged], "@a:x"));
    expect(items).toHaveLength(1);
    expect(items[0].content.body).toBe("hello!");
    expect(items[0].edited).toBe(true);
  });

  it("counts reactions per key and remembers our own", () => {
    const m = msg("@a:x", "lunch?");
    const r1 = {
      ...msg("@b:x", ""),
      type: "m.reaction",
      content: {},
      relatesTo: { rel_type: "m.annotation", event_id: m.id, key: "👍" },
    };
    const r2 = {
      ...msg("@a:x", ""),
      type: "m.reaction",
      content: {},
      relatesTo: { rel_type: "m.annotation", event_id: m.id, key: "👍" },
    };
    const r3 = {
      ...msg("@c:x", ""),
      type: "m.reaction",
      content: {},
      relatesTo: { rel_type: "m.annotation", event_id: m.id, key: "🎉" },
      redacted: true,
    };
    const [item] = messages(buildTimeline([m, r1, r2, r3], "@a:x"));
    expect(item.reactions).toEqual([{ key: "👍", senders: ["@b:x", "@a:x"], ownEventId: r2.id }]);
  });

  it("shows redacted messages as deleted without their edits or reactions", () => {
    const m = msg("@a:x", "oops", { redacted: true, content: {} });
    const edit = msg("@a:x", "* x", {
      content: { "m.new_content": { body: "x" } },
      relatesTo: { rel_type: "m.replace", event_id: m.id },
    });
    const [item] = messages(buildTimeline([m, edit], "@a:x"));
    expect(item.redacted).toBe(true);
    expect(item.edited).toBe(false);
  });

  it("inserts a separator when the day changes and groups by sender", () => {
    const a1 = msg("@a:x", "1");
    const a2 = msg("@a:x", "2");
    const b1 = msg("@b:x", "3");
    const next = msg("@b:x", "4", { ts: day + 36 * 3600 * 1000 });
    const items = buildTimeline([a1, a2, b1, next], "@a:x");
    expect(items.map((i) => i.kind)).toEqual(["day", "message", "message", "message", "day", "message"]);
    const ms = messages(items);
    expect(ms.map((m) => m.startsGroup)).toEqual([true, false, true, true]);
  });

  it("keeps replies, unreadable messages and membership notices", () => {
    const m = msg("@a:x", "question");
    const reply = msg("@b:x", "answer", { relatesTo: { "m.in_reply_to": { event_id: m.id } } });
    const utd = msg("@b:x", "", { type: "m.room.encrypted", content: {}, unreadable: "pending" });
    const join = msg("@c:x", "", { type: "m.room.member", stateKey: "@c:x", content: { membership: "join" } });
    const hiddenState = msg("@a:x", "", { type: "m.room.power_levels", content: {} });
    const items = buildTimeline([m, reply, utd, join, hiddenState], "@a:x");
    const ms = messages(items);
    expect(ms[1].replyTo).toBe(m.id);
    expect(ms[2].unreadable).toBe("pending");
    expect(items.filter((i) => i.kind === "notice")).toHaveLength(1);
  });
});
