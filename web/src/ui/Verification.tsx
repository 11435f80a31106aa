// Emoji (SAS) verification with another user or between one's own devices.
// The requester starts the emoji exchange once the other side accepts; each
// side compares the same seven emoji and confirms.
import type { MatrixClient } from "matrix-js-sdk";
import {
  VerificationPhase,
  VerificationRequestEvent,
  VerifierEvent,
  type ShowSasCallbacks,
  type VerificationRequest,
} from "matrix-js-sdk/lib/crypto-api/index.js";
import { useEffect, useRef, useState } from "preact/hooks";
import { t } from "../i18n";
import { Dialog, ErrorText } from "./common";
import { useEmitter, useLanguage } from "./hooks";

export function VerificationDialog(props: { client: MatrixClient; request: VerificationRequest; onClose: () => void }) {
  useLanguage();
  const { request, client } = props;
  useEmitter(request as never, [VerificationRequestEvent.Change]);
  const [sas, setSas] = useState<ShowSasCallbacks>();
  const [confirmed, setConfirmed] = useState(false);
  const [error, setError] = useState<unknown>();
  const started = useRef(false);
  const verifying = useRef(false);

  useEffect(() => {
    if (request.phase === VerificationPhase.Ready && request.initiatedByMe && !started.current) {
      started.current = true;
      request.startVerification("m.sas.v1").catch(setError);
    }
    const verifier = request.verifier;
    if (verifier && !verifying.current) {
      verifying.current = true;
      verifier.on(VerifierEvent.ShowSas, setSas);
      const shown = verifier.getShowSasCallbacks();
      if (shown) setSas(shown);
      verifier.verify().catch(() => undefined);
    }
  });

  const other = request.isSelfVerification
    ? t("you")
    : (client.getUser(request.otherUserId)?.displayName ?? request.otherUserId);
  const close = () => {
    if (request.phase !== VerificationPhase.Done && request.phase !== VerificationPhase.Cancelled) {
      void request.cancel().catch(() => undefined);
    }
    props.onClose();
  };

  let body;
  switch (request.phase) {
    case VerificationPhase.Unsent:
    case VerificationPhase.Requested:
      body = request.initiatedByMe ? (
        <p role="status">{t("verifyWaiting", { user: other })}</p>
      ) : (
        <>
          <p>{request.isSelfVerification ? t("verifyIncomingOwn") : t("verifyIncoming", { user: other })}</p>
          <div class="actions">
            <button onClick={close}>{t("decline")}</button>
            <button class="primary" onClick={() => request.accept().catch(setError)}>
              {t("accept")}
            </button>
          </div>
        </>
      );
      break;
    case VerificationPhase.Ready:
    case VerificationPhase.Started:
      body = sas?.sas.emoji ? (
        <>
          <p>{t("verifyCompare")}</p>
          <ol class="emoji-list" data-testid="sas-emoji">
            {sas.sas.emoji.map(([emoji, name]) => (
              <li key={name}>
                <span class="emoji" aria-hidden="true">
                  {emoji}
                </span>
                <span class="emoji-name">{name}</span>
              </li>
            ))}
          </ol>
          {confirmed ? (
            <p role="status">{t("verifyWaitingOther")}</p>
          ) : (
            <div class="actions">
              <button
                class="danger"
                onClick={() => {
                  sas.mismatch();
                }}
              >
                {t("theyDontMatch")}
              </button>
              <button
                class="primary"
                onClick={() => {
                  setConfirmed(true);
                  sas.confirm().catch(setError);
                }}
              >
                {t("theyMatch")}
              </button>
            </div>
          )}
        </>
      ) : (
        <p role="status">{t("verifyWaiting", { user: other })}</p>
      );
      break;
    case VerificationPhase.Done:
      body = (
        <>
          <p role="status" data-testid="verification-done">
            ✅ {t("verifyDone", { user: other })}
          </p>
          <div class="actions">
            <button class="primary" onClick={props.onClose}>
              {t("close")}
            </button>
          </div>
        </>
      );
      break;
    default:
      body = (
        <>
          <p role="status">{t("verifyCancelled")}</p>
          <div class="actions">
            <button onClick={props.onClose}>{t("close")}</button>
          </div>
        </>
      );
  }
  return (
    <Dialog title={t("verifyUser", { user: other })} onClose={close}>
      {body}
      <ErrorText error={error} />
    </Dialog>
  );
}
