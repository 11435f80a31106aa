// Secure backup: set it up once (one recovery key), unlock it on a new
// device. The words avoid jargon: "recovery key", "verify this device".
import type { MatrixClient } from "matrix-js-sdk";
import type { GeneratedSecretStorageKey, VerificationRequest } from "matrix-js-sdk/lib/crypto-api/index.js";
import { useState } from "preact/hooks";
import { t } from "../i18n";
import {
  generateRecoveryKey,
  setUpSecureBackup,
  unlockWithRecoveryKey,
  WrongRecoveryKeyError,
} from "../matrix/security";
import { Dialog, ErrorText } from "./common";
import { useLanguage } from "./hooks";

export function SecuritySetupDialog(props: {
  client: MatrixClient;
  password?: string;
  reset: boolean;
  onClose: () => void;
}) {
  useLanguage();
  const [key, setKey] = useState<GeneratedSecretStorageKey>();
  const [saved, setSaved] = useState(false);
  const [copied, setCopied] = useState(false);
  const [password, setPassword] = useState("");
  const [step, setStep] = useState<"intro" | "key" | "working" | "done">("intro");
  const [error, setError] = useState<unknown>();
  const needsPassword = props.reset && props.password === undefined;

  const generate = async () => {
    setError(undefined);
    try {
      setKey(await generateRecoveryKey(props.client));
      setStep("key");
    } catch (e) {
      setError(e);
    }
  };

  const finish = async () => {
    if (!key) return;
    setError(undefined);
    setStep("working");
    try {
      if (props.reset && !window.confirm(t("resetWarning"))) {
        setStep("key");
        return;
      }
      await setUpSecureBackup(props.client, key, props.password ?? password, props.reset);
      setStep("done");
    } catch (e) {
      setError(e);
      setStep("key");
    }
  };

  return (
    <Dialog title={t("securityTitle")} onClose={step === "working" ? undefined : props.onClose}>
      {step === "intro" && (
        <>
          <p>{t("securityIntro")}</p>
          <ErrorText error={error} />
          <div class="actions">
            <button onClick={props.onClose}>{t("backupLater")}</button>
            <button class="primary" onClick={generate}>
              {t("generateKey")}
            </button>
          </div>
        </>
      )}
      {(step === "key" || step === "working") && key && (
        <>
          <p>
            <strong>{t("yourRecoveryKey")}</strong>
          </p>
          <code class="recovery-key" data-testid="recovery-key">
            {key.encodedPrivateKey}
          </code>
          <p class="muted">{t("recoveryKeyAdvice")}</p>
          <div class="actions left">
            <button
              onClick={async () => {
                await navigator.clipboard?.writeText(key.encodedPrivateKey ?? "").catch(() => undefined);
                setCopied(true);
              }}
            >
              {copied ? t("copied") : t("copy")}
            </button>
          </div>
          {needsPassword && (
            <label>
              {t("passwordToConfirm")}
              <input
                type="password"
                autocomplete="current-password"
                value={password}
                onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
              />
            </label>
          )}
          <label class="check">
            <input type="checkbox" checked={saved} onChange={(e) => setSaved((e.target as HTMLInputElement).checked)} />
            {t("savedKey")}
          </label>
          <ErrorText error={error} />
          <div class="actions">
            <button class="primary" disabled={!saved || step === "working"} onClick={finish}>
              {step === "working" ? t("working") : t("setUpBackup")}
            </button>
          </div>
        </>
      )}
      {step === "done" && (
        <>
          <p role="status">✅ {t("backupReady")}</p>
          <div class="actions">
            <button class="primary" onClick={props.onClose}>
              {t("close")}
            </button>
          </div>
        </>
      )}
    </Dialog>
  );
}

export function UnlockDialog(props: {
  client: MatrixClient;
  onVerifyWithDevice: (request: VerificationRequest) => void;
  onReset: () => void;
  onClose: () => void;
}) {
  useLanguage();
  const [typed, setTyped] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [wrong, setWrong] = useState(false);
  const [restored, setRestored] = useState<number>();

  const unlock = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setWrong(false);
    try {
      setRestored(await unlockWithRecoveryKey(props.client, typed));
    } catch (err) {
      if (err instanceof WrongRecoveryKeyError) setWrong(true);
      else setError(err);
    } finally {
      setBusy(false);
    }
  };

  const otherDevice = async () => {
    try {
      props.onVerifyWithDevice(await props.client.getCrypto()!.requestOwnUserVerification());
    } catch (e) {
      setError(e);
    }
  };

  if (restored !== undefined) {
    return (
      <Dialog title={t("verifyThisDevice")} onClose={props.onClose}>
        <p role="status">✅ {t("restored", { count: restored })}</p>
        <div class="actions">
          <button class="primary" onClick={props.onClose}>
            {t("close")}
          </button>
        </div>
      </Dialog>
    );
  }
  return (
    <Dialog title={t("verifyThisDevice")} onClose={busy ? undefined : props.onClose}>
      <p>{t("verifyThisDeviceIntro")}</p>
      <form onSubmit={unlock}>
        <label>
          {t("enterRecoveryKey")}
          <input
            name="recovery-key"
            autocomplete="off"
            spellcheck={false}
            value={typed}
            onInput={(e) => setTyped((e.target as HTMLInputElement).value)}
          />
        </label>
        {wrong && (
          <p class="error" role="alert">
            {t("wrongRecoveryKey")}
          </p>
        )}
        <ErrorText error={error} />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy || typed.trim() === ""}>
            {busy ? t("restoring") : t("useRecoveryKey")}
          </button>
        </div>
      </form>
      <div class="actions split">
        <button class="link" onClick={otherDevice} disabled={busy}>
          {t("useOtherDevice")}
        </button>
        <button class="link danger" onClick={props.onReset} disabled={busy}>
          {t("resetEncryption")}
        </button>
      </div>
    </Dialog>
  );
}
