// Settings: profile, sessions (devices), security, notifications, language.
import type { IMyDevice, MatrixClient } from "matrix-js-sdk";
import { useEffect, useState } from "preact/hooks";
import { t } from "../i18n";
import type { SecurityState } from "../matrix/security";
import { notificationsWanted, setNotificationsWanted } from "../matrix/notifications";
import { LanguagePicker } from "./Auth";
import { Avatar, Dialog, ErrorText } from "./common";
import { useLanguage } from "./hooks";

function Profile(props: { client: MatrixClient }) {
  const { client } = props;
  const me = client.getUser(client.getSafeUserId());
  const [name, setName] = useState(me?.displayName ?? "");
  const [avatar, setAvatar] = useState(me?.avatarUrl);
  const [saved, setSaved] = useState(false);
  const [error, setError] = useState<unknown>();
  return (
    <section aria-labelledby="profile-h">
      <h3 id="profile-h">{t("profile")}</h3>
      <div class="profile-row">
        <Avatar client={client} name={name || client.getSafeUserId()} mxc={avatar} size={64} />
        <label class="button-like">
          {t("changeAvatar")}
          <input
            type="file"
            accept="image/png,image/jpeg,image/webp,image/gif"
            hidden
            onChange={async (e) => {
              const file = (e.target as HTMLInputElement).files?.[0];
              if (!file) return;
              try {
                const { content_uri } = await client.uploadContent(file, { type: file.type });
                await client.setAvatarUrl(content_uri);
                setAvatar(content_uri);
              } catch (err) {
                setError(err);
              }
            }}
          />
        </label>
      </div>
      <form
        class="inline-form"
        onSubmit={async (e) => {
          e.preventDefault();
          setSaved(false);
          try {
            await client.setDisplayName(name.trim());
            setSaved(true);
          } catch (err) {
            setError(err);
          }
        }}
      >
        <label>
          {t("displayName")}
          <input name="display-name" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit">{saved ? t("saved") : t("save")}</button>
      </form>
      <p class="muted">{client.getSafeUserId()}</p>
      <ErrorText error={error} />
    </section>
  );
}

function Sessions(props: { client: MatrixClient }) {
  const { client } = props;
  const [devices, setDevices] = useState<IMyDevice[]>([]);
  const [verified, setVerified] = useState<Record<string, boolean>>({});
  const [error, setError] = useState<unknown>();
  const [password, setPassword] = useState("");
  const [askPassword, setAskPassword] = useState<string[]>();
  const reload = async () => {
    try {
      const { devices } = await client.getDevices();
      devices.sort((a, b) => (b.last_seen_ts ?? 0) - (a.last_seen_ts ?? 0));
      setDevices(devices);
      const crypto = client.getCrypto();
      const status: Record<string, boolean> = {};
      for (const d of devices) {
        const s = await crypto?.getDeviceVerificationStatus(client.getSafeUserId(), d.device_id);
        status[d.device_id] = s?.crossSigningVerified ?? false;
      }
      setVerified(status);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => void reload(), []);

  const signOut = async (ids: string[], pw?: string) => {
    setError(undefined);
    try {
      await client.deleteMultipleDevices(ids);
    } catch (e) {
      const err = e as { httpStatus?: number; data?: { session?: string } };
      if (err.httpStatus !== 401) return setError(e);
      if (pw === undefined) return setAskPassword(ids);
      try {
        await client.deleteMultipleDevices(ids, {
          type: "m.login.password",
          identifier: { type: "m.id.user", user: client.getSafeUserId() },
          password: pw,
          session: err.data?.session,
        } as never);
      } catch (e2) {
        return setError(e2);
      }
    }
    setAskPassword(undefined);
    setPassword("");
    await reload();
  };

  const others = devices.filter((d) => d.device_id !== client.getDeviceId()).map((d) => d.device_id);
  return (
    <section aria-labelledby="sessions-h">
      <h3 id="sessions-h">{t("devices")}</h3>
      <ul role="list" class="devices">
        {devices.map((d) => (
          <li key={d.device_id}>
            <div>
              <strong>{d.display_name || d.device_id}</strong>
              {d.device_id === client.getDeviceId() && <span class="tag">{t("thisDevice")}</span>}
              <span class={verified[d.device_id] ? "tag ok" : "tag warn"}>
                {verified[d.device_id] ? t("verified") : t("notVerified")}
              </span>
              <div class="muted">
                {d.device_id}
                {d.last_seen_ts ? ` · ${t("lastSeen", { when: new Date(d.last_seen_ts).toLocaleString() })}` : ""}
              </div>
            </div>
            <div class="row-actions">
              <button
                class="small"
                onClick={async () => {
                  const name = window.prompt(t("rename"), d.display_name ?? "");
                  if (name === null) return;
                  await client.setDeviceDetails(d.device_id, { display_name: name }).catch(setError);
                  await reload();
                }}
              >
                {t("rename")}
              </button>
              {d.device_id !== client.getDeviceId() && (
                <button class="small danger" onClick={() => signOut([d.device_id])}>
                  {t("signOutDevice")}
                </button>
              )}
            </div>
          </li>
        ))}
      </ul>
      {others.length > 0 && (
        <button class="danger" onClick={() => signOut(others)}>
          {t("signOutOthers")}
        </button>
      )}
      {askPassword && (
        <form
          class="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            void signOut(askPassword, password);
          }}
        >
          <label>
            {t("passwordToConfirm")}
            <input
              type="password"
              autocomplete="current-password"
              value={password}
              onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
            />
          </label>
          <button type="submit" class="danger">
            {t("confirm")}
          </button>
        </form>
      )}
      <ErrorText error={error} />
    </section>
  );
}

function Notifications() {
  const [on, setOn] = useState(notificationsWanted());
  const [blocked, setBlocked] = useState(false);
  return (
    <section aria-labelledby="notif-h">
      <h3 id="notif-h">{t("notifications")}</h3>
      <label class="check">
        <input
          type="checkbox"
          checked={on}
          onChange={async (e) => {
            const want = (e.target as HTMLInputElement).checked;
            const result = await setNotificationsWanted(want);
            setBlocked(want && result !== "granted");
            setOn(want && result === "granted");
          }}
        />
        {t("enableNotifications")}
      </label>
      {blocked && <p class="error">{t("notificationsBlocked")}</p>}
    </section>
  );
}

export function SettingsDialog(props: {
  client: MatrixClient;
  security?: SecurityState;
  onClose: () => void;
  onSetUpSecurity: () => void;
  onSignOut: () => Promise<void>;
}) {
  useLanguage();
  const [busy, setBusy] = useState(false);
  return (
    <Dialog title={t("settings")} onClose={props.onClose} wide>
      <div class="settings">
        <Profile client={props.client} />
        <section aria-labelledby="security-h">
          <h3 id="security-h">{t("security")}</h3>
          {props.security === "ready" ? (
            <p>✅ {t("backupReady")}</p>
          ) : (
            <p>{props.security === "needs-verification" ? t("verifyThisDeviceIntro") : t("securityIntro")}</p>
          )}
          <button onClick={props.onSetUpSecurity}>
            {props.security === "needs-verification"
              ? t("verifyThisDevice")
              : props.security === "ready"
                ? t("resetEncryption")
                : t("setUpBackup")}
          </button>
        </section>
        <Sessions client={props.client} />
        <Notifications />
        <section>
          <LanguagePicker />
        </section>
        <button
          class="danger"
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            await props.onSignOut();
          }}
        >
          {t("signOut")}
        </button>
      </div>
    </Dialog>
  );
}
