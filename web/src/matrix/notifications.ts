// Browser notifications for new messages while Missive is in the
// background, following the user's push rules (the server's unread counts
// and these agree). Encrypted messages are shown once decrypted.
import { MatrixEventEvent, RoomEvent, type MatrixClient, type MatrixEvent, type Room } from "matrix-js-sdk";

const SETTING = "missive.notifications";

export function notificationsWanted(): boolean {
  return localStorage.getItem(SETTING) === "on";
}

export async function setNotificationsWanted(on: boolean): Promise<NotificationPermission | "unsupported"> {
  if (!("Notification" in window)) return "unsupported";
  if (on && Notification.permission !== "granted") {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") return permission;
  }
  localStorage.setItem(SETTING, on ? "on" : "off");
  return Notification.permission;
}

function show(client: MatrixClient, event: MatrixEvent, room: Room, openRoom: (roomId: string) => void) {
  if (!notificationsWanted() || Notification.permission !== "granted" || !document.hidden) return;
  if (event.getSender() === client.getUserId() || event.getType() !== "m.room.message") return;
  if (!client.getPushActionsForEvent(event)?.notify) return;
  const sender = room.getMember(event.getSender()!)?.name ?? event.getSender()!;
  const body = String(event.getContent().body ?? "");
  const n = new Notification(room.name === sender ? sender : `${sender} — ${room.name}`, {
    body: body.slice(0, 200),
    tag: room.roomId,
    icon: "/icon.svg",
  });
  n.onclick = () => {
    window.focus();
    openRoom(room.roomId);
    n.close();
  };
}

/** Starts notifying; returns the function that stops it. */
export function watchNotifications(client: MatrixClient, openRoom: (roomId: string) => void): () => void {
  const onTimeline = (
    event: MatrixEvent,
    room: Room | undefined,
    toStart: boolean | undefined,
    removed: boolean,
    data: { liveEvent?: boolean },
  ) => {
    if (!room || toStart || removed || !data.liveEvent) return;
    if (event.isBeingDecrypted() || event.shouldAttemptDecryption()) {
      event.once(MatrixEventEvent.Decrypted, () => show(client, event, room, openRoom));
    } else {
      show(client, event, room, openRoom);
    }
  };
  client.on(RoomEvent.Timeline, onTimeline);
  return () => client.off(RoomEvent.Timeline, onTimeline);
}
