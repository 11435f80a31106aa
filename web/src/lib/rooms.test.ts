import { describe, expect, it } from "vitest";
import { addDirectRoom, badge, directRoomIds, sectionRooms, type RoomSummary } from "./rooms";

const room = (id: string, name: string, extra: Partial<RoomSummary> = {}): RoomSummary => ({
  id,
  name,
  membership: "join",
  isDirect: false,
  lastActivity: 0,
  unread: 0,
  highlight: 0,
  encrypted: true,
  ...extra,
});

describe("sectionRooms", () => {
  const all = [
    room("!1", "Équipe projet", { lastActivity: 5 }),
    room("!2", "Alice", { isDirect: true, lastActivity: 9 }),
    room("!3", "Budget", { lastActivity: 7 }),
    room("!4", "Invite", { membership: "invite", lastActivity: 1 }),
  ];

  it("splits invitations, direct chats and rooms, newest first", () => {
    const s = sectionRooms(all, "");
    expect(s.invites.map((r) => r.id)).toEqual(["!4"]);
    expect(s.direct.map((r) => r.id)).toEqual(["!2"]);
    expect(s.rooms.map((r) => r.id)).toEqual(["!3", "!1"]);
  });

  it("filters by name ignoring case and accents", () => {
    expect(sectionRooms(all, "equipe").rooms.map((r) => r.id)).toEqual(["!1"]);
    expect(sectionRooms(all, "ALI").direct.map((r) => r.id)).toEqual(["!2"]);
  });
});

describe("badge", () => {
  it("shows counts, highlights and caps at 99+", () => {
    expect(badge(room("!1", "a"))).toBeNull();
    expect(badge(room("!1", "a", { unread: 3 }))).toEqual({ text: "3", highlight: false });
    expect(badge(room("!1", "a", { unread: 3, highlight: 1 }))).toEqual({ text: "3", highlight: true });
    expect(badge(room("!1", "a", { unread: 120 }))?.text).toBe("99+");
  });
});

describe("m.direct helpers", () => {
  it("adds a room once", () => {
    const d = addDirectRoom({}, "@b:x", "!r");
    expect(d).toEqual({ "@b:x": ["!r"] });
    expect(addDirectRoom(d!, "@b:x", "!r")).toBeNull();
  });
  it("collects room IDs and ignores junk", () => {
    expect([...directRoomIds({ "@a:x": ["!1", 3], "@b:x": "bad", "@c:x": ["!2"] })]).toEqual(["!1", "!2"]);
  });
});
