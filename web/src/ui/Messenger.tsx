// The signed-in app: sidebar with the room list, the open room, dialogs,
// and the prompts that keep encryption working (backup, verification).
import { ClientEvent, SyncState, type MatrixClient } from "matrix-js-sdk";
import { CryptoEvent, type VerificationRequest } from "matrix-js-sdk/lib/crypto-api/index.js";
import { useEffect, useState } from "preact/hooks";
import { t } from "../i18n";
import { securityState, type SecurityState } from "../matrix/security";
import { logout, type ServerInfo } from "../matrix/session";
import { watchNotifications } from "../matrix/notifications";
import { Avatar } from "./common";
import { useEmitter, useLanguage } from "./hooks";
import { ExploreDialog, NewChatDialog, NewRoomDialog } from "./NewRoom";
import { RoomList } from "./RoomList";
import { RoomView } from "./RoomView";
import { SecuritySetupDialog, UnlockDialog } from "./Security";
import { SettingsDialog } from "./Settings";
import { VerificationDialog } from "./Verification";

const dismissalKey = (client: MatrixClient) => `missive.backupOfferDismissed.${client.getUserId()}`;
const backupOfferDismissed = (client: MatrixClient) => localStorage.getItem(dismissalKey(client)) !== null;

let verificationCount = 0;

type Open = "none" | "explore" | "new-room" | "new-chat" | "settings" | "security-setup" | "unlock";

export function Messenger(props: {
  client: MatrixClient;
  server: ServerInfo;
  password?: string;
  onSignedOut: () => void;
}) {
  useLanguage();
  const { client } = props;
  useEmitter(client as never, [ClientEvent.Sync, "User.displayName", "User.avatarUrl"]);
  const [roomId, setRoomId] = useState<string>();
  const [open, setOpen] = useState<Open>("none");
  const [security, setSecurity] = useState<SecurityState>();
  const [verification, setVerificationState] = useState<{ request: VerificationRequest; id: number }>();
  // Each request gets its own dialog instance (its own emoji and state).
  const setVerification = (request: VerificationRequest | undefined) =>
    setVerificationState(request ? { request, id: ++verificationCount } : undefined);

  const refreshSecurity = async () => {
    try {
      const state = await securityState(client);
      setSecurity(state);
      return state;
    } catch {
      return undefined;
    }
  };

  useEffect(() => {
    // Once the first sync is in, offer what this device still lacks.
    const check = async () => {
      const state = await refreshSecurity();
      // Offered once; after "Later" the banner stays in the sidebar instead.
      if (state === "needs-setup" && !backupOfferDismissed(client)) setOpen("security-setup");
      else if (state === "needs-verification") setOpen("unlock");
    };
    if (client.isInitialSyncComplete()) void check();
    else client.once(ClientEvent.Sync, () => void check());
    const onTrust = () => void refreshSecurity();
    const onRequest = (request: VerificationRequest) => setVerification(request);
    // Our own device's verification arrives as a device-list update (the
    // other device uploads the signature), not as a user trust change.
    client.on(CryptoEvent.UserTrustStatusChanged, onTrust);
    client.on(CryptoEvent.KeysChanged, onTrust);
    client.on(CryptoEvent.DevicesUpdated, onTrust);
    client.on(CryptoEvent.VerificationRequestReceived, onRequest);
    const stopNotifications = watchNotifications(client, setRoomId);
    return () => {
      client.off(CryptoEvent.UserTrustStatusChanged, onTrust);
      client.off(CryptoEvent.KeysChanged, onTrust);
      client.off(CryptoEvent.DevicesUpdated, onTrust);
      client.off(CryptoEvent.VerificationRequestReceived, onRequest);
      stopNotifications();
    };
  }, [client]);

  const me = client.getUser(client.getSafeUserId());
  const name = me?.displayName ?? client.getSafeUserId();
  const syncState = client.getSyncState();
  const offline = syncState === SyncState.Error || syncState === SyncState.Reconnecting;
  // While a dialog is open the rest of the app can be neither focused nor
  // clicked: keyboard and screen-reader users stay inside the dialog.
  const modal = open !== "none" || verification !== undefined;

  return (
    <div class="messenger" data-view={roomId ? "room" : "list"}>
      <aside class="sidebar" inert={modal}>
        <header class="sidebar-header">
          <button
            class="me"
            onClick={() => {
              void refreshSecurity();
              setOpen("settings");
            }}
            aria-label={t("settings")}
          >
            <Avatar client={client} name={name} mxc={me?.avatarUrl} />
            <span class="me-name">{name}</span>
          </button>
          <button class="icon" onClick={() => setOpen("new-chat")} aria-label={t("newChat")} title={t("newChat")}>
            ✉
          </button>
          <button
            class="icon"
            onClick={() => setOpen("explore")}
            aria-label={t("exploreRooms")}
            title={t("exploreRooms")}
          >
            🧭
          </button>
          <button class="icon" onClick={() => setOpen("new-room")} aria-label={t("newRoom")} title={t("newRoom")}>
            +
          </button>
        </header>
        {security && security !== "ready" && open === "none" && (
          <div class="banner" role="status">
            <span>{security === "needs-setup" ? t("securityIntro") : t("verifyThisDeviceIntro")}</span>
            <button
              class="primary small"
              onClick={() => setOpen(security === "needs-setup" ? "security-setup" : "unlock")}
            >
              {security === "needs-setup" ? t("setUpBackup") : t("verifyThisDevice")}
            </button>
          </div>
        )}
        {offline && (
          <div class="banner warn" role="status">
            {t("offline")}
          </div>
        )}
        <RoomList client={client} selected={roomId} onSelect={setRoomId} />
      </aside>
      <main class="main" inert={modal}>
        {roomId && client.getRoom(roomId) ? (
          <RoomView
            key={roomId}
            client={client}
            room={client.getRoom(roomId)!}
            onBack={() => setRoomId(undefined)}
            onLeft={() => setRoomId(undefined)}
            onVerify={setVerification}
            onUnlock={() => setOpen("unlock")}
          />
        ) : (
          <div class="empty-main">
            <img src="/icon.svg" alt="" />
            <p>{t("noRoomSelected")}</p>
          </div>
        )}
      </main>
      {open === "explore" && <ExploreDialog client={client} onClose={() => setOpen("none")} onJoined={setRoomId} />}
      {open === "new-room" && <NewRoomDialog client={client} onClose={() => setOpen("none")} onCreated={setRoomId} />}
      {open === "new-chat" && (
        <NewChatDialog
          client={client}
          serverName={props.server.serverName}
          onClose={() => setOpen("none")}
          onOpened={setRoomId}
        />
      )}
      {open === "settings" && (
        <SettingsDialog
          client={client}
          security={security}
          onClose={() => setOpen("none")}
          onSetUpSecurity={() => setOpen(security === "needs-verification" ? "unlock" : "security-setup")}
          onSignOut={async () => {
            await logout(client);
            props.onSignedOut();
          }}
        />
      )}
      {open === "security-setup" && (
        <SecuritySetupDialog
          client={client}
          password={props.password}
          reset={security !== "needs-setup"}
          onClose={() => {
            localStorage.setItem(dismissalKey(client), String(Date.now()));
            setOpen("none");
            void refreshSecurity();
          }}
        />
      )}
      {open === "unlock" && (
        <UnlockDialog
          client={client}
          onVerifyWithDevice={(request) => {
            setOpen("none");
            setVerification(request);
          }}
          onReset={() => setOpen("security-setup")}
          onClose={() => {
            setOpen("none");
            void refreshSecurity();
          }}
        />
      )}
      {verification && (
        <VerificationDialog
          key={verification.id}
          client={client}
          request={verification.request}
          onClose={() => {
            setVerification(undefined);
            void refreshSecurity();
          }}
        />
      )}
    </div>
  );
}
