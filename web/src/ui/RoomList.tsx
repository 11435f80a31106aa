// The sidebar's list: invitations, direct chats and rooms, with unread and
// highlight counts and a name filter.
import { ClientEvent, NotificationCountType, RoomEvent, type MatrixClient, type Room } from "matrix-js-sdk";
import { useState } from "preact/hooks";
import { badge, directRoomIds, sectionRooms, type RoomSummary } from "../lib/rooms";
import { t, type MessageKey } from "../i18n";
import { Avatar } from "./common";
import { useEmitter, useLanguage } from "./hooks";

const LIST_EVENTS = [
  ClientEvent.Room,
  ClientEvent.DeleteRoom,
  ClientEvent.AccountData,
  RoomEvent.Name,
  RoomEvent.Timeline,
  RoomEvent.UnreadNotifications,
  RoomEvent.MyMembership,
  RoomEvent.Receipt,
];

function summarize(client: MatrixClient): RoomSummary[] {
  const direct = directRoomIds(client.getAccountData("m.direct" as never)?.getContent());
  return client
    .getRooms()
    .filter((r) => r.getMyMembership() === "join" || r.getMyMembership() === "invite")
    .map((r: Room) => {
      const membership = r.getMyMembership() as "join" | "invite";
      return {
        id: r.roomId,
        name: r.name,
        membership,
        isDirect: direct.has(r.roomId) || (membership === "invite" && r.getDMInviter() !== undefined),
        lastActivity: r.getLastActiveTimestamp() > 0 ? r.getLastActiveTimestamp() : 0,
        unread: r.getUnreadNotificationCount(NotificationCountType.Total),
        highlight: r.getUnreadNotificationCount(NotificationCountType.Highlight),
        encrypted: r.hasEncryptionStateEvent(),
      };
    });
}

export function RoomList(props: { client: MatrixClient; selected?: string; onSelect: (roomId: string) => void }) {
  useLanguage();
  useEmitter(props.client as never, LIST_EVENTS);
  const [filter, setFilter] = useState("");
  const sections = sectionRooms(summarize(props.client), filter);
  const empty = !sections.invites.length && !sections.direct.length && !sections.rooms.length;
  const section = (title: MessageKey, rooms: RoomSummary[]) =>
    rooms.length > 0 && (
      <section class="room-section" aria-label={t(title)}>
        <h3>{t(title)}</h3>
        <ul role="list">
          {rooms.map((r) => {
            const b = badge(r);
            const room = props.client.getRoom(r.id);
            return (
              <li key={r.id}>
                <button
                  class={r.id === props.selected ? "room-item selected" : "room-item"}
                  aria-current={r.id === props.selected ? "true" : undefined}
                  data-room-id={r.id}
                  onClick={() => props.onSelect(r.id)}
                >
                  <Avatar client={props.client} name={r.name} mxc={room?.getMxcAvatarUrl()} />
                  <span class="room-name">{r.name}</span>
                  {r.encrypted && (
                    <span class="lock" title={t("encrypted")} aria-label={t("encrypted")}>
                      🔒
                    </span>
                  )}
                  {b && (
                    <span class={b.highlight ? "badge highlight" : "badge"} aria-label={`${b.text} unread`}>
                      {b.text}
                    </span>
                  )}
                </button>
              </li>
            );
          })}
        </ul>
      </section>
    );
  return (
    <nav class="room-list" aria-label={t("rooms")}>
      <input
        class="filter"
        type="search"
        placeholder={t("filterRooms")}
        aria-label={t("filterRooms")}
        value={filter}
        onInput={(e) => setFilter((e.target as HTMLInputElement).value)}
      />
      {section("invites", sections.invites)}
      {section("people", sections.direct)}
      {section("rooms", sections.rooms)}
      {empty && <p class="muted empty">{t("noRooms")}</p>}
    </nav>
  );
}
