// A room one is invited to: who invited, accept or decline. Accepting a
// direct chat records it as one (m.direct), as the inviter did.
import type { MatrixClient, Room } from "matrix-js-sdk";
import { useState } from "preact/hooks";
import { t } from "../i18n";
import { Avatar, ErrorText } from "./common";
import { useLanguage } from "./hooks";
import { senderName } from "./Message";
import { markDirectOnJoin } from "./NewRoom";

export function InvitePreview(props: { client: MatrixClient; room: Room; onBack: () => void; onLeft: () => void }) {
  useLanguage();
  const { client, room } = props;
  const [error, setError] = useState<unknown>();
  const me = client.getSafeUserId();
  const inviter = room.getDMInviter() ?? room.getMember(me)?.events.member?.getSender();
  return (
    <section class="room invite-preview" aria-label={room.name}>
      <header class="room-header">
        <button class="icon back" aria-label={t("back")} onClick={props.onBack}>
          ←
        </button>
        <h2>{room.name}</h2>
      </header>
      <div class="invite-body">
        <Avatar client={client} name={room.name} mxc={room.getMxcAvatarUrl()} size={72} />
        <p>{t("invitedBy", { user: inviter ? senderName(room, inviter) : "?" })}</p>
        <ErrorText error={error} />
        <div class="actions center">
          <button onClick={() => client.leave(room.roomId).then(props.onLeft).catch(setError)}>{t("decline")}</button>
          <button
            class="primary"
            onClick={async () => {
              try {
                await client.joinRoom(room.roomId);
                const dmInviter = room.getDMInviter();
                if (dmInviter) await markDirectOnJoin(client, room.roomId, dmInviter);
              } catch (e) {
                setError(e);
              }
            }}
          >
            {t("accept")}
          </button>
        </div>
      </div>
    </section>
  );
}
