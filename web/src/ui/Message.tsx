// One line of the timeline: a message (text, image, file, or one that
// cannot be decrypted yet) with its reply quote, reactions and receipts, or
// a notice about the room (joins, name, encryption…).
import type { MatrixClient, Room } from "matrix-js-sdk";
import { useEffect, useState } from "preact/hooks";
import { t } from "../i18n";
import { asText, formatBytes, joinNames, localpart } from "../lib/format";
import { sanitizeHtml, stripReplyFallback } from "../lib/markdown";
import type { MessageItem, NoticeItem } from "../lib/timeline";
import { fetchFile, isInlineImage } from "../matrix/files";
import { Avatar } from "./common";

export const QUICK_REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "😢"];

export function senderName(room: Room, userId: string): string {
  return room.getMember(userId)?.name ?? localpart(userId);
}

function time(ts: number): string {
  return new Date(ts).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

export function MessageBody(props: { client: MatrixClient; content: Record<string, unknown> }) {
  const c = props.content;
  if (c.msgtype === "m.image" || c.msgtype === "m.file" || c.msgtype === "m.audio" || c.msgtype === "m.video") {
    return isInlineImage(c) ? (
      <ImageView client={props.client} content={c} />
    ) : (
      <FileView client={props.client} content={c} />
    );
  }
  const body = stripReplyFallback(asText(c.body));
  const emote = c.msgtype === "m.emote";
  if (c.format === "org.matrix.custom.html" && typeof c.formatted_body === "string") {
    return (
      <div class={emote ? "body emote" : "body"} dangerouslySetInnerHTML={{ __html: sanitizeHtml(c.formatted_body) }} />
    );
  }
  return <div class={emote ? "body emote" : "body"}>{body}</div>;
}

function useDecryptedFile(client: MatrixClient, content: Record<string, unknown>, eager: boolean) {
  const [url, setUrl] = useState<string>();
  const [failed, setFailed] = useState(false);
  const load = async () => {
    try {
      const blob = await fetchFile(client, content);
      const u = URL.createObjectURL(blob);
      setUrl(u);
      return u;
    } catch {
      setFailed(true);
      return undefined;
    }
  };
  useEffect(() => {
    if (eager) void load();
  }, []);
  useEffect(() => () => url && URL.revokeObjectURL(url), [url]);
  return { url, failed, load };
}

function ImageView(props: { client: MatrixClient; content: Record<string, unknown> }) {
  const { url, failed } = useDecryptedFile(props.client, props.content, true);
  const info = (props.content.info ?? {}) as { w?: number; h?: number };
  const name = asText(props.content.body) || t("image");
  if (failed) return <p class="muted">{t("couldNotDecryptFile")}</p>;
  // Reserve the image's box before it arrives so the timeline does not jump.
  const ratio = info.w && info.h ? `${info.w} / ${info.h}` : undefined;
  return url ? (
    <img class="image" src={url} alt={name} style={{ aspectRatio: ratio }} data-testid="message-image" />
  ) : (
    <div class="image loading" style={{ aspectRatio: ratio ?? "4 / 3" }} aria-busy="true">
      {t("decrypting")}
    </div>
  );
}

function FileView(props: { client: MatrixClient; content: Record<string, unknown> }) {
  const { failed, load } = useDecryptedFile(props.client, props.content, false);
  const name = asText(props.content.body) || t("file");
  const size = (props.content.info as { size?: number } | undefined)?.size;
  const download = async () => {
    const url = await load();
    if (!url) return;
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    a.click();
  };
  return (
    <div class="file">
      <span aria-hidden="true">📄</span>
      <span class="file-name">{name}</span>
      {size !== undefined && <span class="muted">{formatBytes(size)}</span>}
      <button class="small" onClick={download}>
        {t("download")}
      </button>
      {failed && <span class="error">{t("couldNotDecryptFile")}</span>}
    </div>
  );
}

function Unreadable(props: { reason: NonNullable<MessageItem["unreadable"]>; onUnlock: () => void }) {
  return (
    <div class="utd" role="note">
      <strong>🔐 {t("utdTitle")}</strong>
      <span>
        {props.reason === "withheld"
          ? t("utdWithheld")
          : props.reason === "unverified_device"
            ? t("utdUnverified")
            : t("utdBody")}
      </span>
      {props.reason !== "withheld" && (
        <button class="link" onClick={props.onUnlock}>
          {t("unlockBackup")}
        </button>
      )}
    </div>
  );
}

export interface MessageActions {
  reply(id: string): void;
  edit(id: string): void;
  remove(id: string): void;
  react(id: string, key: string, ownEventId?: string): void;
  retry(id: string): void;
  unlock(): void;
}

export function MessageView(props: {
  client: MatrixClient;
  room: Room;
  item: MessageItem;
  replyTo?: MessageItem;
  seenBy: string[];
  actions: MessageActions;
}) {
  const { item, room, client } = props;
  const me = client.getUserId();
  const mine = item.sender === me;
  const name = senderName(room, item.sender);
  const [picking, setPicking] = useState(false);
  const canAct = !item.redacted && !item.unreadable && !item.status;
  return (
    <article
      class={`message${mine ? " mine" : ""}${item.startsGroup ? " starts-group" : ""}`}
      data-event-id={item.id}
      aria-label={`${name}, ${time(item.ts)}`}
    >
      {item.startsGroup && (
        <header class="message-header">
          <Avatar client={client} name={name} mxc={room.getMember(item.sender)?.getMxcAvatarUrl()} size={28} />
          <span class="sender">{name}</span>
          <time dateTime={new Date(item.ts).toISOString()}>{time(item.ts)}</time>
        </header>
      )}
      <div class="message-content">
        {props.replyTo && (
          <blockquote class="reply-quote">
            <span class="sender">{senderName(room, props.replyTo.sender)}</span>
            <span class="quote-text">
              {props.replyTo.redacted ? t("deleted") : asText(props.replyTo.content.body).slice(0, 140)}
            </span>
          </blockquote>
        )}
        {item.redacted ? (
          <p class="muted deleted">🗑 {t("deleted")}</p>
        ) : item.unreadable ? (
          <Unreadable reason={item.unreadable} onUnlock={() => props.actions.unlock()} />
        ) : (
          <MessageBody client={client} content={item.content} />
        )}
        {item.edited && <span class="muted edited">{t("edited")}</span>}
        {item.status === "failed" && (
          <p class="error">
            {t("sendFailed")}{" "}
            <button class="link" onClick={() => props.actions.retry(item.id)}>
              {t("retry")}
            </button>
          </p>
        )}
        {item.reactions.length > 0 && (
          <ul class="reactions" role="list">
            {item.reactions.map((r) => (
              <li key={r.key}>
                <button
                  class={r.ownEventId ? "reaction own" : "reaction"}
                  aria-pressed={r.ownEventId ? "true" : "false"}
                  title={t("reactedWith", { users: r.senders.map((s) => senderName(room, s)).join(", "), key: r.key })}
                  onClick={() => props.actions.react(item.id, r.key, r.ownEventId)}
                >
                  {r.key} {r.senders.length}
                </button>
              </li>
            ))}
          </ul>
        )}
        {props.seenBy.length > 0 && (
          <p class="seen muted" data-testid="seen-by">
            {t("seenBy", { users: joinNames(props.seenBy, "&", (n) => `+${n}`) })}
          </p>
        )}
      </div>
      {canAct && (
        <div class="message-actions" role="toolbar" aria-label={name}>
          <button class="icon small" aria-label={t("react")} title={t("react")} onClick={() => setPicking(!picking)}>
            ☺
          </button>
          <button
            class="icon small"
            aria-label={t("reply")}
            title={t("reply")}
            onClick={() => props.actions.reply(item.id)}
          >
            ↩
          </button>
          {mine && item.content.msgtype !== "m.image" && item.content.msgtype !== "m.file" && (
            <button
              class="icon small"
              aria-label={t("edit")}
              title={t("edit")}
              onClick={() => props.actions.edit(item.id)}
            >
              ✎
            </button>
          )}
          {mine && (
            <button
              class="icon small"
              aria-label={t("delete")}
              title={t("delete")}
              onClick={() => props.actions.remove(item.id)}
            >
              🗑
            </button>
          )}
          {picking && (
            <div class="reaction-picker" role="menu">
              {QUICK_REACTIONS.map((key) => (
                <button
                  key={key}
                  role="menuitem"
                  class="icon"
                  onClick={() => {
                    setPicking(false);
                    props.actions.react(item.id, key, item.reactions.find((r) => r.key === key)?.ownEventId);
                  }}
                >
                  {key}
                </button>
              ))}
            </div>
          )}
        </div>
      )}
    </article>
  );
}

export function NoticeView(props: { room: Room; item: NoticeItem }) {
  const e = props.item.event;
  const user = senderName(props.room, e.sender);
  let text: string | null = null;
  switch (e.type) {
    case "m.room.create":
      text = t("roomCreated", { user });
      break;
    case "m.room.name":
      text = t("nameChanged", { user, name: asText(e.content.name) });
      break;
    case "m.room.topic":
      text = t("topicChanged", { user, topic: asText(e.content.topic) });
      break;
    case "m.room.encryption":
      text = t("encryptionEnabled", { user });
      break;
    case "m.room.member": {
      const target = asText(e.content.displayname) || localpart(e.stateKey ?? "");
      const m = e.content.membership;
      const before = e.prevContent ?? {};
      if (m === "join" && before.membership === "join") {
        // A profile change: only a new name is worth a line.
        const old = asText(before.displayname);
        text = old && old !== e.content.displayname ? t("memberRenamed", { old, user: target }) : null;
      } else if (m === "join") text = e.sender === e.stateKey ? t("memberJoined", { user: target }) : null;
      else if (m === "invite") text = t("memberInvited", { user, target });
      else if (m === "ban") text = t("memberBanned", { user, target });
      else if (m === "leave")
        text = e.sender === e.stateKey ? t("memberLeft", { user: target }) : t("memberKicked", { user, target });
      break;
    }
  }
  return text ? <p class="notice-line">{text}</p> : null;
}
