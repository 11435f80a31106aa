// Creating rooms and direct chats, and finding people in the directory.
import { Preset, Visibility, type MatrixClient } from "matrix-js-sdk";
import { useEffect, useState } from "preact/hooks";
import { t } from "../i18n";
import { addDirectRoom, directRoomIds } from "../lib/rooms";
import { localpart, toUserId } from "../lib/format";
import { Avatar, Dialog, ErrorText } from "./common";
import { useLanguage } from "./hooks";

const ENCRYPTION = { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } };

export function NewRoomDialog(props: {
  client: MatrixClient;
  onClose: () => void;
  onCreated: (roomId: string) => void;
}) {
  useLanguage();
  const [name, setName] = useState("");
  const [topic, setTopic] = useState("");
  const [isPublic, setPublic] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const create = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const { room_id } = await props.client.createRoom({
        name: name.trim(),
        topic: topic.trim() || undefined,
        preset: isPublic ? Preset.PublicChat : Preset.PrivateChat,
        visibility: isPublic ? Visibility.Public : Visibility.Private,
        // Private rooms are end-to-end encrypted from their first event.
        initial_state: isPublic ? [] : [ENCRYPTION],
      });
      props.onCreated(room_id);
      props.onClose();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <Dialog title={t("newRoom")} onClose={props.onClose}>
      <form onSubmit={create}>
        <label>
          {t("roomName")}
          <input
            name="room-name"
            required
            value={name}
            onInput={(e) => setName((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          {t("topic")}
          <input name="topic" value={topic} onInput={(e) => setTopic((e.target as HTMLInputElement).value)} />
        </label>
        <fieldset class="choice">
          <label class="check">
            <input type="radio" name="visibility" checked={!isPublic} onChange={() => setPublic(false)} />
            🔒 {t("privateRoom")}
          </label>
          <label class="check">
            <input type="radio" name="visibility" checked={isPublic} onChange={() => setPublic(true)} />
            🌐 {t("publicRoom")}
          </label>
        </fieldset>
        <ErrorText error={error} />
        <div class="actions">
          <button type="button" onClick={props.onClose}>
            {t("cancel")}
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {busy ? t("working") : t("create")}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

interface Found {
  user_id: string;
  display_name?: string;
  avatar_url?: string;
}

/** Searches the user directory as the user types. */
export function UserPicker(props: {
  client: MatrixClient;
  serverName: string;
  action: string;
  onPick: (userId: string) => Promise<void>;
}) {
  useLanguage();
  const [term, setTerm] = useState("");
  const [results, setResults] = useState<Found[]>([]);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const q = term.trim();
    if (q === "") {
      setResults([]);
      return;
    }
    const timer = setTimeout(async () => {
      try {
        const res = await props.client.searchUserDirectory({ term: q, limit: 10 });
        const found: Found[] = res.results.filter((r) => r.user_id !== props.client.getUserId());
        // A full user ID typed by hand is offered even if the directory does not know it.
        const typed = toUserId(q, props.serverName);
        if (typed && q.startsWith("@") && !found.some((f) => f.user_id === typed)) found.push({ user_id: typed });
        setResults(found);
      } catch (e) {
        setError(e);
      }
    }, 250);
    return () => clearTimeout(timer);
  }, [term]);
  return (
    <div class="user-picker">
      <input
        type="search"
        name="user-search"
        placeholder={t("searchPeople")}
        aria-label={t("searchPeople")}
        value={term}
        onInput={(e) => setTerm((e.target as HTMLInputElement).value)}
      />
      <ErrorText error={error} />
      <ul role="list" class="user-results">
        {results.map((r) => (
          <li key={r.user_id}>
            <span class="user">
              <Avatar
                client={props.client}
                name={r.display_name ?? localpart(r.user_id)}
                mxc={r.avatar_url}
                size={32}
              />
              <span>
                <span class="user-name">{r.display_name ?? localpart(r.user_id)}</span>
                <span class="muted user-id">{r.user_id}</span>
              </span>
            </span>
            <button
              class="primary small"
              disabled={busy}
              aria-label={`${props.action} ${r.display_name ?? r.user_id}`}
              onClick={async () => {
                setBusy(true);
                setError(undefined);
                try {
                  await props.onPick(r.user_id);
                } catch (e) {
                  setError(e);
                } finally {
                  setBusy(false);
                }
              }}
            >
              {props.action}
            </button>
          </li>
        ))}
        {term.trim() !== "" && results.length === 0 && <li class="muted">{t("noUsersFound")}</li>}
      </ul>
    </div>
  );
}

/** Opens the existing direct chat with `userId`, or creates an encrypted one. */
async function openDirectChat(client: MatrixClient, userId: string): Promise<string> {
  const direct = (client.getAccountData("m.direct" as never)?.getContent() ?? {}) as Record<string, string[]>;
  const existing = (direct[userId] ?? []).find((id) => {
    const room = client.getRoom(id);
    return room?.getMyMembership() === "join" && ["join", "invite"].includes(room.getMember(userId)?.membership ?? "");
  });
  if (existing) return existing;
  const { room_id } = await client.createRoom({
    is_direct: true,
    invite: [userId],
    preset: Preset.TrustedPrivateChat,
    initial_state: [ENCRYPTION],
  });
  const updated = addDirectRoom(direct, userId, room_id);
  if (updated) await client.setAccountData("m.direct" as never, updated as never);
  return room_id;
}

export function NewChatDialog(props: {
  client: MatrixClient;
  serverName: string;
  onClose: () => void;
  onOpened: (roomId: string) => void;
}) {
  useLanguage();
  return (
    <Dialog title={t("newChat")} onClose={props.onClose}>
      <UserPicker
        client={props.client}
        serverName={props.serverName}
        action={t("startChat")}
        onPick={async (userId) => {
          const roomId = await openDirectChat(props.client, userId);
          props.onOpened(roomId);
          props.onClose();
        }}
      />
    </Dialog>
  );
}

/** When accepting an invitation to a direct chat, remember it as one. */
export async function markDirectOnJoin(client: MatrixClient, roomId: string, inviter: string): Promise<void> {
  const direct = (client.getAccountData("m.direct" as never)?.getContent() ?? {}) as Record<string, string[]>;
  if (directRoomIds(direct).has(roomId)) return;
  const updated = addDirectRoom(direct, inviter, roomId);
  if (updated) await client.setAccountData("m.direct" as never, updated as never);
}

interface PublicRoom {
  room_id: string;
  name?: string;
  topic?: string;
  canonical_alias?: string;
  num_joined_members: number;
}

/** The server's public room directory, searchable, with a join button;
 * an alias like `#room:server` typed in full can be joined directly. */
export function ExploreDialog(props: {
  client: MatrixClient;
  onClose: () => void;
  onJoined: (roomId: string) => void;
}) {
  useLanguage();
  const [term, setTerm] = useState("");
  const [rooms, setRooms] = useState<PublicRoom[]>([]);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const timer = setTimeout(async () => {
      try {
        const q = term.trim();
        const res = await props.client.publicRooms({ limit: 50, filter: q ? { generic_search_term: q } : undefined });
        setRooms(res.chunk as PublicRoom[]);
      } catch (e) {
        setError(e);
      }
    }, 250);
    return () => clearTimeout(timer);
  }, [term]);
  const join = async (idOrAlias: string) => {
    setBusy(true);
    setError(undefined);
    try {
      const room = await props.client.joinRoom(idOrAlias);
      props.onJoined(room.roomId);
      props.onClose();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  const alias = /^#[^:\s]+:\S+$/.test(term.trim()) ? term.trim() : undefined;
  return (
    <Dialog title={t("exploreRooms")} onClose={props.onClose}>
      <input
        type="search"
        placeholder={t("searchRooms")}
        aria-label={t("searchRooms")}
        value={term}
        onInput={(e) => setTerm((e.target as HTMLInputElement).value)}
      />
      <ErrorText error={error} />
      <ul role="list" class="user-results">
        {alias && (
          <li>
            <span class="user-name">{alias}</span>
            <button class="primary small" disabled={busy} onClick={() => join(alias)}>
              {t("join")}
            </button>
          </li>
        )}
        {rooms.map((r) => {
          const name = r.name ?? r.canonical_alias ?? r.room_id;
          const joined = props.client.getRoom(r.room_id)?.getMyMembership() === "join";
          return (
            <li key={r.room_id}>
              <span class="user">
                <Avatar client={props.client} name={name} size={32} />
                <span>
                  <span class="user-name">{name}</span>
                  <span class="muted user-id">
                    {t("members", { count: r.num_joined_members })}
                    {r.topic ? ` · ${r.topic}` : ""}
                  </span>
                </span>
              </span>
              {joined ? (
                <button class="small" onClick={() => (props.onJoined(r.room_id), props.onClose())}>
                  {t("open")}
                </button>
              ) : (
                <button
                  class="primary small"
                  disabled={busy}
                  aria-label={`${t("join")} ${name}`}
                  onClick={() => join(r.room_id)}
                >
                  {t("join")}
                </button>
              )}
            </li>
          );
        })}
        {rooms.length === 0 && !alias && <li class="muted">{t("noPublicRooms")}</li>}
      </ul>
    </Dialog>
  );
}
