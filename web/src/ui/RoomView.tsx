// An open room: header, timeline with back-pagination and receipts,
// typing notices, the composer and uploads (invitations: InvitePreview).
import {
  ClientEvent,
  Direction,
  MatrixEventEvent,
  RoomEvent,
  RoomMemberEvent,
  ReceiptType,
  RoomStateEvent,
  type MatrixClient,
  type Room,
} from "matrix-js-sdk";
import { CryptoEvent, type VerificationRequest } from "matrix-js-sdk/lib/crypto-api/index.js";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { t } from "../i18n";
import { joinNames } from "../lib/format";
import { buildTimeline, type MessageItem, type TimelineItem } from "../lib/timeline";
import { toRawEvent } from "../matrix/adapt";
import { Avatar, Dialog, ErrorText } from "./common";
import { Composer } from "./Composer";
import { useDecryptionRetries, useEmitter, useLanguage } from "./hooks";
import { MessageView, NoticeView, senderName, type MessageActions } from "./Message";
import { InvitePreview } from "./InvitePreview";
import { UserPicker } from "./NewRoom";
import { UploadList, useUploads } from "./Uploads";

const ROOM_EVENTS = [
  RoomEvent.Timeline,
  RoomEvent.TimelineReset,
  RoomEvent.Redaction,
  RoomEvent.LocalEchoUpdated,
  RoomEvent.Receipt,
  RoomEvent.Name,
  RoomEvent.MyMembership,
  MatrixEventEvent.Decrypted,
  RoomMemberEvent.Typing,
  RoomStateEvent.Members,
  ClientEvent.Sync,
  ClientEvent.AccountData,
  CryptoEvent.UserTrustStatusChanged,
];

function dayLabel(ts: number): string {
  const d = new Date(ts);
  const today = new Date();
  const yesterday = new Date(Date.now() - 86_400_000);
  if (d.toDateString() === today.toDateString()) return t("today");
  if (d.toDateString() === yesterday.toDateString()) return t("yesterday");
  return d.toLocaleDateString(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
}

export function RoomView(props: {
  client: MatrixClient;
  room: Room;
  onBack: () => void;
  onLeft: () => void;
  onVerify: (request: VerificationRequest) => void;
  onUnlock: () => void;
}) {
  useLanguage();
  const { client, room } = props;
  useEmitter(client as never, ROOM_EVENTS);
  useDecryptionRetries(client, room);
  const me = client.getSafeUserId();
  const [replyTo, setReplyTo] = useState<string>();
  const [editing, setEditing] = useState<string>();
  const { uploads, upload, dismiss } = useUploads(client, room.roomId);
  const [error, setError] = useState<unknown>();
  const [inviting, setInviting] = useState(false);
  const [dragging, setDragging] = useState(false);
  const [paginating, setPaginating] = useState(false);
  const [otherVerified, setOtherVerified] = useState<boolean>();
  const scroller = useRef<HTMLDivElement>(null);
  const stickToBottom = useRef(true);
  const heightBeforePagination = useRef<number | undefined>(undefined);

  const membership = room.getMyMembership();
  const encrypted = room.hasEncryptionStateEvent();
  // A direct chat is what m.direct says (not any two-person room).
  const direct = (client.getAccountData("m.direct" as never)?.getContent() ?? {}) as Record<string, string[]>;
  const dmUser = Object.keys(direct).find((user) => direct[user]?.includes(room.roomId)) ?? "";
  const isDirect = dmUser !== "" && dmUser !== me;
  const timeline = room.getLiveTimeline();
  const events = timeline.getEvents();
  const items = buildTimeline(events.map(toRawEvent), me);
  const messages = new Map(items.filter((i): i is MessageItem => i.kind === "message").map((i) => [i.id, i]));
  const canPaginate = timeline.getPaginationToken(Direction.Backward) !== null;

  // Verification state of the other person in a direct chat, refreshed
  // whenever trust changes (e.g. when a verification completes).
  useEffect(() => {
    if (!isDirect || !encrypted) return;
    let live = true;
    const refresh = () => {
      void client
        .getCrypto()
        ?.getUserVerificationStatus(dmUser)
        .then((s) => live && setOtherVerified(s.isCrossSigningVerified()))
        .catch(() => undefined);
    };
    refresh();
    client.on(CryptoEvent.UserTrustStatusChanged, refresh);
    return () => {
      live = false;
      client.off(CryptoEvent.UserTrustStatusChanged, refresh);
    };
  }, [dmUser, isDirect, encrypted]);

  // Read receipt for the newest event once it is on screen.
  const last = [...events].reverse().find((e) => e.getId()?.startsWith("$") && e.getSender() !== me);
  useEffect(() => {
    if (!last || membership !== "join" || document.hidden) return;
    if (room.hasUserReadEvent(me, last.getId()!)) return;
    client.sendReadReceipt(last).catch(() => undefined);
  }, [last?.getId()]);

  // Keep the view at the bottom as messages arrive, unless the user scrolled
  // up; keep the reading position when older messages are prepended.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    if (heightBeforePagination.current !== undefined) {
      el.scrollTop += el.scrollHeight - heightBeforePagination.current;
      heightBeforePagination.current = undefined;
    } else if (stickToBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
  });

  const paginate = async () => {
    if (paginating || !canPaginate) return;
    setPaginating(true);
    heightBeforePagination.current = scroller.current?.scrollHeight;
    try {
      await client.paginateEventTimeline(timeline, { backwards: true, limit: 30 });
    } catch (e) {
      setError(e);
    } finally {
      setPaginating(false);
    }
  };

  const actions: MessageActions = {
    reply: (id) => {
      setEditing(undefined);
      setReplyTo(id);
    },
    edit: (id) => {
      setReplyTo(undefined);
      setEditing(id);
    },
    remove: (id) => {
      if (window.confirm(t("deleteConfirm"))) client.redactEvent(room.roomId, id).catch(setError);
    },
    react: (id, key, own) => {
      const done = own
        ? client.redactEvent(room.roomId, own)
        : client.sendEvent(
            room.roomId,
            "m.reaction" as never,
            { "m.relates_to": { rel_type: "m.annotation", event_id: id, key } } as never,
          );
      done.catch(setError);
    },
    retry: (id) => {
      const event = room.findEventById(id) ?? room.getPendingEvents().find((e) => e.getTxnId() === id);
      if (event) client.resendEvent(event, room).catch(setError);
    },
    unlock: props.onUnlock,
  };

  const typing = room
    .getMembers()
    .filter((m) => m.typing && m.userId !== me)
    .map((m) => m.name);

  const seenBy = (item: TimelineItem): string[] => {
    const event = room.findEventById(item.id);
    if (!event) return [];
    return room
      .getReceiptsForEvent(event)
      .filter((r) => r.type === ReceiptType.Read && r.userId !== me && r.userId !== event.getSender())
      .map((r) => senderName(room, r.userId));
  };

  if (membership === "invite") {
    return <InvitePreview client={client} room={room} onBack={props.onBack} onLeft={props.onLeft} />;
  }

  return (
    <section
      class={dragging ? "room dragging" : "room"}
      aria-label={room.name}
      onDragOver={(e) => {
        if (e.dataTransfer?.types.includes("Files")) {
          e.preventDefault();
          setDragging(true);
        }
      }}
      onDragLeave={(e) => e.currentTarget === e.target && setDragging(false)}
      onDrop={(e) => {
        e.preventDefault();
        setDragging(false);
        const files = [...(e.dataTransfer?.files ?? [])];
        if (files.length) upload(files);
      }}
    >
      <header class="room-header">
        <button class="icon back" aria-label={t("back")} onClick={props.onBack}>
          ←
        </button>
        <Avatar client={client} name={room.name} mxc={room.getMxcAvatarUrl()} />
        <div class="room-title">
          <h2>{room.name}</h2>
          <span class="muted">
            {encrypted ? `🔒 ${t("encrypted")}` : t("notEncrypted")} ·{" "}
            {t("members", { count: room.getJoinedMemberCount() })}
          </span>
        </div>
        {isDirect && encrypted && (
          <button
            class={otherVerified ? "small verified" : "small"}
            data-testid="verify-user"
            onClick={async () => {
              try {
                props.onVerify(await client.getCrypto()!.requestVerificationDM(dmUser, room.roomId));
              } catch (e) {
                setError(e);
              }
            }}
          >
            {otherVerified ? `✔ ${t("verified")}` : t("verify")}
          </button>
        )}
        <button class="small" aria-label={t("invite")} title={t("invite")} onClick={() => setInviting(true)}>
          <span class="glyph" aria-hidden="true">
            👤+
          </span>
          <span class="label">{t("invite")}</span>
        </button>
        <button
          class="small danger"
          aria-label={t("leave")}
          title={t("leave")}
          onClick={() => {
            if (window.confirm(t("leaveConfirm", { room: room.name }))) {
              client.leave(room.roomId).then(props.onLeft).catch(setError);
            }
          }}
        >
          <span class="glyph" aria-hidden="true">
            🚪
          </span>
          <span class="label">{t("leave")}</span>
        </button>
      </header>
      <div
        class="timeline"
        ref={scroller}
        role="log"
        aria-live="polite"
        aria-label={room.name}
        onScroll={(e) => {
          const el = e.currentTarget;
          stickToBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
          if (el.scrollTop < 80) void paginate();
        }}
      >
        {canPaginate ? (
          <button class="link load-older" onClick={paginate} disabled={paginating}>
            {paginating ? t("loading") : t("loadOlder")}
          </button>
        ) : (
          <p class="muted start">{t("startOfRoom")}</p>
        )}
        {items.map((item) =>
          item.kind === "day" ? (
            <p class="day" key={item.id} role="separator">
              <span>{dayLabel(item.ts)}</span>
            </p>
          ) : item.kind === "notice" ? (
            <NoticeView key={item.id} room={room} item={item} />
          ) : (
            <MessageView
              key={item.id}
              client={client}
              room={room}
              item={item}
              replyTo={item.replyTo ? messages.get(item.replyTo) : undefined}
              seenBy={seenBy(item)}
              actions={actions}
            />
          ),
        )}
      </div>
      {typing.length > 0 && (
        <p class="typing muted" aria-live="polite">
          {typing.length === 1
            ? t("typing1", { user: typing[0] })
            : t("typingN", { users: joinNames(typing, "&", (n) => `+${n}`) })}
        </p>
      )}
      <UploadList uploads={uploads} onDismiss={dismiss} />
      <ErrorText error={error} />
      {dragging && <div class="drop-hint">{t("dropFiles")}</div>}
      <Composer
        client={client}
        room={room}
        encrypted={encrypted}
        replyTo={replyTo ? messages.get(replyTo) : undefined}
        editing={editing ? messages.get(editing) : undefined}
        onDone={() => {
          setReplyTo(undefined);
          setEditing(undefined);
        }}
        onFiles={upload}
        onError={setError}
      />
      {inviting && (
        <Dialog title={t("inviteTitle", { room: room.name })} onClose={() => setInviting(false)}>
          <UserPicker
            client={client}
            serverName={client.getDomain() ?? ""}
            action={t("invite")}
            onPick={async (userId) => {
              await client.invite(room.roomId, userId);
              setInviting(false);
            }}
          />
        </Dialog>
      )}
    </section>
  );
}
