// The room list's logic: sections (invitations, direct chats, rooms),
// ordering by latest activity and the name filter.

export interface RoomSummary {
  id: string;
  name: string;
  membership: "join" | "invite";
  isDirect: boolean;
  lastActivity: number;
  unread: number;
  highlight: number;
  encrypted: boolean;
}

export interface RoomSections {
  invites: RoomSummary[];
  direct: RoomSummary[];
  rooms: RoomSummary[];
}

/** Lower case without accents, so "equipe" finds "Équipe". */
export function foldForSearch(text: string): string {
  return text
    .normalize("NFD")
    .replace(/\p{Diacritic}/gu, "")
    .toLowerCase();
}

export function sectionRooms(all: readonly RoomSummary[], filter: string): RoomSections {
  const needle = foldForSearch(filter.trim());
  const shown = all
    .filter((r) => needle === "" || foldForSearch(r.name).includes(needle))
    .sort((a, b) => b.lastActivity - a.lastActivity || a.name.localeCompare(b.name));
  return {
    invites: shown.filter((r) => r.membership === "invite"),
    direct: shown.filter((r) => r.membership === "join" && r.isDirect),
    rooms: shown.filter((r) => r.membership === "join" && !r.isDirect),
  };
}

/** The badge on a room: a number of unread notifications, or nothing. */
export function badge(r: RoomSummary): { text: string; highlight: boolean } | null {
  if (r.unread <= 0 && r.highlight <= 0) return null;
  const count = Math.max(r.unread, r.highlight);
  return { text: count > 99 ? "99+" : String(count), highlight: r.highlight > 0 };
}

/** `m.direct` account data: user ID → DM room IDs. Returns the new map with
 * `roomId` added for `userId`, or null when it is already there. */
export function addDirectRoom(
  direct: Record<string, string[]>,
  userId: string,
  roomId: string,
): Record<string, string[]> | null {
  const rooms = direct[userId] ?? [];
  if (rooms.includes(roomId)) return null;
  return { ...direct, [userId]: [...rooms, roomId] };
}

/** The set of room IDs that `m.direct` marks as direct chats. */
export function directRoomIds(direct: Record<string, unknown> | undefined): Set<string> {
  const ids = new Set<string>();
  for (const rooms of Object.values(direct ?? {})) {
    if (Array.isArray(rooms)) for (const r of rooms) if (typeof r === "string") ids.add(r);
  }
  return ids;
}
