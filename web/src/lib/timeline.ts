// Turns a room's raw events into what the timeline shows: edits applied to
// the message they replace, reactions counted under their message, day
// separators, and consecutive messages of one sender grouped. Pure: the
// Matrix client's events are adapted to `RawEvent` in matrix/adapt.ts.

export interface Relation {
  rel_type?: string;
  event_id?: string;
  key?: string;
  "m.in_reply_to"?: { event_id?: string };
}

/** Why an encrypted event is not readable (yet). */
export type UnreadableReason = "pending" | "withheld" | "unverified_device";

export interface RawEvent {
  id: string;
  type: string;
  sender: string;
  ts: number;
  content: Record<string, unknown>;
  stateKey?: string;
  /** A state event's previous content (membership changes need it). */
  prevContent?: Record<string, unknown>;
  relatesTo?: Relation;
  redacted?: boolean;
  unreadable?: UnreadableReason;
  /** Local echo state of our own events still being sent. */
  status?: "sending" | "failed";
}

export interface ReactionGroup {
  key: string;
  senders: string[];
  /** Our own reaction event, to take it back. */
  ownEventId?: string;
}

export interface MessageItem {
  kind: "message";
  id: string;
  sender: string;
  ts: number;
  /** The content shown: the latest edit's `m.new_content` when edited. */
  content: Record<string, unknown>;
  edited: boolean;
  redacted: boolean;
  unreadable?: UnreadableReason;
  replyTo?: string;
  reactions: ReactionGroup[];
  /** First of a run of messages by the same sender (shows the name). */
  startsGroup: boolean;
  status?: "sending" | "failed";
}

export interface NoticeItem {
  kind: "notice";
  id: string;
  ts: number;
  event: RawEvent;
}

export interface DayItem {
  kind: "day";
  id: string;
  ts: number;
}

export type TimelineItem = MessageItem | NoticeItem | DayItem;

/** State events worth a line in the timeline. */
const NOTICE_TYPES = new Set(["m.room.create", "m.room.member", "m.room.name", "m.room.topic", "m.room.encryption"]);

/** Messages this close together from one sender share one header. */
const GROUP_GAP_MS = 5 * 60 * 1000;

/** A calendar day in the viewer's time zone. */
export function dayKey(ts: number): string {
  const d = new Date(ts);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

function isMessage(e: RawEvent): boolean {
  return e.type === "m.room.message" || e.type === "m.room.encrypted" || e.type === "m.sticker";
}

export function buildTimeline(events: readonly RawEvent[], ownUserId: string): TimelineItem[] {
  const byId = new Map(events.map((e) => [e.id, e]));
  const latestEdit = new Map<string, RawEvent>();
  const reactions = new Map<string, Map<string, ReactionGroup>>();

  for (const e of events) {
    if (e.redacted) continue;
    const rel = e.relatesTo;
    if (!rel?.event_id) continue;
    if (rel.rel_type === "m.replace" && isMessage(e)) {
      const target = byId.get(rel.event_id);
      // Only the original sender may edit a message.
      if (target && target.sender === e.sender && e.content["m.new_content"]) {
        latestEdit.set(rel.event_id, e);
      }
    } else if (e.type === "m.reaction" && rel.rel_type === "m.annotation" && rel.key) {
      const groups = reactions.get(rel.event_id) ?? new Map<string, ReactionGroup>();
      reactions.set(rel.event_id, groups);
      const group = groups.get(rel.key) ?? { key: rel.key, senders: [] };
      groups.set(rel.key, group);
      if (!group.senders.includes(e.sender)) group.senders.push(e.sender);
      if (e.sender === ownUserId) group.ownEventId = e.id;
    }
  }

  const items: TimelineItem[] = [];
  let lastDay = "";
  let last: MessageItem | undefined;
  for (const e of events) {
    const hidden =
      e.type === "m.reaction" ||
      // In-room verification requests are handled by the verification dialog.
      e.content.msgtype === "m.key.verification.request" ||
      (e.relatesTo?.rel_type === "m.replace" && isMessage(e)) ||
      (!isMessage(e) && !NOTICE_TYPES.has(e.type));
    if (hidden) continue;
    const day = dayKey(e.ts);
    if (day !== lastDay) {
      items.push({ kind: "day", id: `day-${day}`, ts: e.ts });
      lastDay = day;
      last = undefined;
    }
    if (!isMessage(e)) {
      items.push({ kind: "notice", id: e.id, ts: e.ts, event: e });
      last = undefined;
      continue;
    }
    const edit = e.redacted ? undefined : latestEdit.get(e.id);
    const item: MessageItem = {
      kind: "message",
      id: e.id,
      sender: e.sender,
      ts: e.ts,
      content: edit ? (edit.content["m.new_content"] as Record<string, unknown>) : e.content,
      edited: edit !== undefined,
      redacted: e.redacted ?? false,
      unreadable: e.unreadable,
      replyTo: e.redacted ? undefined : e.relatesTo?.["m.in_reply_to"]?.event_id,
      reactions: e.redacted ? [] : [...(reactions.get(e.id)?.values() ?? [])],
      startsGroup: !last || last.sender !== e.sender || e.ts - last.ts > GROUP_GAP_MS,
      status: e.status,
    };
    items.push(item);
    last = item;
  }
  return items;
}
