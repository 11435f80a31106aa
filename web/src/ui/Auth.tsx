// Sign in and registration, following the server's registration mode.
import { useState } from "preact/hooks";
import { setLanguage, language, t, type Lang } from "../i18n";
import { login, register, type Credentials, type ServerInfo } from "../matrix/session";
import { ErrorText } from "./common";
import { useLanguage } from "./hooks";

export function LanguagePicker() {
  useLanguage();
  return (
    <label class="language">
      <span>{t("language")}</span>
      <select value={language.get()} onChange={(e) => setLanguage((e.target as HTMLSelectElement).value as Lang)}>
        <option value="en">English</option>
        <option value="fr">Français</option>
      </select>
    </label>
  );
}

export function Auth(props: {
  server: ServerInfo;
  notice?: string;
  onSignedIn: (c: Credentials, password: string) => void;
}) {
  useLanguage();
  const canRegister = props.server.registration !== "disabled";
  const [mode, setMode] = useState<"login" | "register">("login");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [localError, setLocalError] = useState<string>();

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setLocalError(undefined);
    if (mode === "register" && password !== confirm) {
      setLocalError(t("passwordsDiffer"));
      return;
    }
    setBusy(true);
    try {
      const creds =
        mode === "login"
          ? await login(props.server, username, password)
          : await register(props.server, username, password, token || undefined);
      props.onSignedIn(creds, password);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <main class="auth">
      <form class="auth-card" onSubmit={submit} aria-label={mode === "login" ? t("signIn") : t("register")}>
        <img src="/icon.svg" alt="" class="auth-logo" />
        <h1>{t("appName")}</h1>
        <p class="muted">{t("tagline")}</p>
        <p class="muted server-name">{props.server.serverName}</p>
        {props.notice && <p class="notice">{props.notice}</p>}
        <label>
          {t("username")}
          <input
            name="username"
            autocomplete="username"
            required
            value={username}
            onInput={(e) => setUsername((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          {t("password")}
          <input
            name="password"
            type="password"
            autocomplete={mode === "login" ? "current-password" : "new-password"}
            required
            value={password}
            onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
          />
        </label>
        {mode === "register" && (
          <label>
            {t("confirmPassword")}
            <input
              name="confirm"
              type="password"
              autocomplete="new-password"
              required
              value={confirm}
              onInput={(e) => setConfirm((e.target as HTMLInputElement).value)}
            />
          </label>
        )}
        {mode === "register" && props.server.registration === "token" && (
          <label>
            {t("registrationToken")}
            <input
              name="token"
              required
              value={token}
              onInput={(e) => setToken((e.target as HTMLInputElement).value)}
            />
          </label>
        )}
        {localError && (
          <p class="error" role="alert">
            {localError}
          </p>
        )}
        <ErrorText error={error} context={mode === "login" ? "login" : "register"} />
        <button class="primary" type="submit" disabled={busy}>
          {busy ? t("working") : mode === "login" ? t("signIn") : t("register")}
        </button>
        {canRegister ? (
          <button type="button" class="link" onClick={() => setMode(mode === "login" ? "register" : "login")}>
            {mode === "login" ? t("noAccount") : t("haveAccount")}
          </button>
        ) : (
          <p class="muted">{t("registrationDisabled")}</p>
        )}
        <LanguagePicker />
      </form>
    </main>
  );
}
