// The app's top level: find the server, resume or start a session.
import { HttpApiEvent, type MatrixClient } from "matrix-js-sdk";
import { useEffect, useRef, useState } from "preact/hooks";
import { t } from "../i18n";
import {
  discoverServer,
  forgetSession,
  loadCredentials,
  startClient,
  type Credentials,
  type ServerInfo,
} from "../matrix/session";
import { Auth } from "./Auth";
import { errorMessage } from "./common";
import { useLanguage } from "./hooks";
import { Messenger } from "./Messenger";

export function App() {
  useLanguage();
  const [server, setServer] = useState<ServerInfo>();
  const [client, setClient] = useState<MatrixClient>();
  const [starting, setStarting] = useState(true);
  const [notice, setNotice] = useState<string>();
  // The password typed at sign-in, kept in memory only, for the security
  // setup that may follow at once (replacing keys asks for it).
  const password = useRef<string | undefined>(undefined);

  const start = async (creds: Credentials, fresh: boolean) => {
    setStarting(true);
    try {
      setClient(await startClient(creds, fresh));
    } catch (e) {
      setNotice(errorMessage(e));
    } finally {
      setStarting(false);
    }
  };

  useEffect(() => {
    // discoverServer falls back to this origin instead of failing.
    void discoverServer().then((s) => {
      setServer(s);
      const creds = loadCredentials();
      if (creds) void start(creds, false);
      else setStarting(false);
    });
  }, []);

  useEffect(() => {
    if (!client) return;
    // The server forgot this session (signed out from another device).
    const onLoggedOut = () => {
      forgetSession();
      client.stopClient();
      void client.clearStores();
      setClient(undefined);
      setNotice(t("errSessionEnded"));
    };
    client.on(HttpApiEvent.SessionLoggedOut, onLoggedOut);
    return () => client.off(HttpApiEvent.SessionLoggedOut, onLoggedOut);
  }, [client]);

  if (!server || starting) {
    return (
      <main class="splash" aria-busy="true">
        <img src="/icon.svg" alt="" class="auth-logo" />
        <p>{t("loading")}</p>
      </main>
    );
  }
  if (!client) {
    return (
      <Auth
        server={server}
        notice={notice}
        onSignedIn={(creds, pw) => {
          password.current = pw;
          setNotice(undefined);
          void start(creds, true);
        }}
      />
    );
  }
  return (
    <Messenger
      client={client}
      server={server}
      password={password.current}
      onSignedOut={() => {
        password.current = undefined;
        setClient(undefined);
      }}
    />
  );
}
