// Writing messages: Markdown, replies, edits, typing notices, files by
// picker (drag and drop is handled by the room view).
import type { MatrixClient, Room } from "matrix-js-sdk";
import { useLayoutEffect, useRef, useState } from "preact/hooks";
import { t } from "../i18n";
import { asText } from "../lib/format";
import { renderMarkdown } from "../lib/markdown";
import type { MessageItem } from "../lib/timeline";
import { senderName } from "./Message";

/** Typing notices are refreshed at most this often while typing. */
const TYPING_REFRESH_MS = 4000;
const TYPING_TIMEOUT_MS = 20000;

export function Composer(props: {
  client: MatrixClient;
  room: Room;
  encrypted: boolean;
  replyTo?: MessageItem;
  editing?: MessageItem;
  onDone: () => void;
  onFiles: (files: File[]) => void;
  onError: (e: unknown) => void;
}) {
  const { client, room } = props;
  const [text, setText] = useState("");
  const input = useRef<HTMLTextAreaElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const lastTyping = useRef(0);

  // Layout effect: the text to edit is in place before the next keystroke.
  useLayoutEffect(() => {
    if (props.editing) setText(asText(props.editing.content.body));
    input.current?.focus();
  }, [props.editing?.id, props.replyTo?.id]);

  const setTyping = (typing: boolean) => {
    const now = Date.now();
    if (typing && now - lastTyping.current < TYPING_REFRESH_MS) return;
    lastTyping.current = typing ? now : 0;
    client.sendTyping(room.roomId, typing, TYPING_TIMEOUT_MS).catch(() => undefined);
  };

  const send = async () => {
    const value = text.trim();
    if (!value) return;
    const formatted = renderMarkdown(value);
    const content: Record<string, unknown> = { msgtype: "m.text", body: formatted.body };
    if (formatted.formatted_body) {
      content.format = "org.matrix.custom.html";
      content.formatted_body = formatted.formatted_body;
    }
    let message = content;
    if (props.editing) {
      message = {
        ...content,
        body: `* ${formatted.body}`,
        "m.new_content": content,
        "m.relates_to": { rel_type: "m.replace", event_id: props.editing.id },
      };
      if (formatted.formatted_body) message.formatted_body = `* ${formatted.formatted_body}`;
    } else if (props.replyTo) {
      message = { ...content, "m.relates_to": { "m.in_reply_to": { event_id: props.replyTo.id } } };
    }
    setText("");
    setTyping(false);
    props.onDone();
    try {
      await client.sendMessage(room.roomId, message as never);
    } catch (e) {
      props.onError(e);
    }
  };

  return (
    <div class="composer">
      {(props.replyTo || props.editing) && (
        <div class="composer-context">
          <span>
            {props.editing ? t("editing") : t("replyingTo", { user: senderName(room, props.replyTo!.sender) })}
          </span>
          <button
            class="icon small"
            aria-label={t("cancel")}
            onClick={() => {
              if (props.editing) setText("");
              props.onDone();
            }}
          >
            ✕
          </button>
        </div>
      )}
      <div class="composer-row">
        <button class="icon" aria-label={t("attach")} title={t("attach")} onClick={() => fileInput.current?.click()}>
          📎
        </button>
        <input
          ref={fileInput}
          type="file"
          multiple
          hidden
          data-testid="file-input"
          onChange={(e) => {
            const files = [...((e.target as HTMLInputElement).files ?? [])];
            (e.target as HTMLInputElement).value = "";
            if (files.length) props.onFiles(files);
          }}
        />
        <textarea
          ref={input}
          rows={1}
          aria-label={props.encrypted ? t("encryptedPlaceholder") : t("messagePlaceholder")}
          placeholder={props.encrypted ? t("encryptedPlaceholder") : t("messagePlaceholder")}
          value={text}
          onInput={(e) => {
            const value = (e.target as HTMLTextAreaElement).value;
            setText(value);
            setTyping(value.length > 0);
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              void send();
            } else if (e.key === "Escape" && (props.editing || props.replyTo)) {
              if (props.editing) setText("");
              props.onDone();
            }
          }}
        />
        <button class="primary" onClick={() => void send()} aria-label={t("send")} disabled={!text.trim()}>
          ➤
        </button>
      </div>
    </div>
  );
}
