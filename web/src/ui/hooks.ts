// Hooks that connect the views to the Matrix client and the app's signals.
import type { MatrixClient, Room } from "matrix-js-sdk";
import { CryptoEvent } from "matrix-js-sdk/lib/crypto-api/index.js";
import { useEffect, useReducer, useState } from "preact/hooks";
import type { Signal } from "../lib/signal";
import { language } from "../i18n";
import { fetchMxc } from "../matrix/files";

export function useSignal<T>(s: Signal<T>): T {
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  useEffect(() => s.subscribe(() => rerender(0)), [s]);
  return s.get();
}

/** Re-renders on the language switch (components call `t()` directly). */
export function useLanguage(): void {
  useSignal(language);
}

type Emitter = {
  on(e: string, f: (...a: unknown[]) => void): unknown;
  off(e: string, f: (...a: unknown[]) => void): unknown;
};

/** Re-renders (at most once a frame) when `emitter` emits any of `events`. */
export function useEmitter(emitter: Emitter | null | undefined, events: readonly string[]): number {
  const [tick, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    if (!emitter) return;
    let frame = 0;
    const onEvent = () => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        bump(0);
      });
    };
    for (const e of events) emitter.on(e, onEvent);
    return () => {
      if (frame) cancelAnimationFrame(frame);
      for (const e of events) emitter.off(e, onEvent);
    };
  }, [emitter, events.join("|")]);
  return tick;
}

const thumbnails = new Map<string, Promise<string>>();

/** A blob URL for an avatar (authenticated media need the token header). */
export function useAvatarUrl(client: MatrixClient, mxc: string | null | undefined, size = 64): string | undefined {
  const [url, setUrl] = useState<string>();
  useEffect(() => {
    setUrl(undefined);
    if (!mxc?.startsWith("mxc://")) return;
    const key = `${mxc}@${size}`;
    let p = thumbnails.get(key);
    if (!p) {
      p = fetchMxc(client, mxc, { width: size, height: size }).then((b) => URL.createObjectURL(new Blob([b])));
      thumbnails.set(key, p);
      p.catch(() => thumbnails.delete(key));
    }
    let live = true;
    p.then((u) => live && setUrl(u)).catch(() => undefined);
    return () => {
      live = false;
    };
  }, [client, mxc, size]);
  return url;
}

/** First and longest pause between retries of undecryptable messages. */
const RETRY_FIRST_MS = 3_000;
const RETRY_MAX_MS = 60_000;
/** Newest undecryptable events retried per round. */
const RETRY_BATCH = 50;

/**
 * Retries the room's undecryptable messages, less and less often, while the
 * room is open. A key missing here may reach the server's key backup only
 * later (another device uploads keys after a random delay of up to about
 * ten seconds), and the SDK asks the backup once per decryption failure:
 * without a retry the message would wait for a reload.
 */
export function useDecryptionRetries(client: MatrixClient, room: Room): void {
  useEffect(() => {
    let delay = RETRY_FIRST_MS;
    let timer: ReturnType<typeof setTimeout>;
    const round = () => {
      const crypto = client.getCrypto();
      const failed = room
        .getLiveTimeline()
        .getEvents()
        .filter((e) => e.isDecryptionFailure())
        .slice(-RETRY_BATCH);
      // attemptDecryption takes the client's crypto backend, which
      // getCrypto() returns; a failure leaves the event as it was.
      if (crypto)
        for (const e of failed) e.attemptDecryption(crypto as never, { isRetry: true }).catch(() => undefined);
      delay = Math.min(delay * 2, RETRY_MAX_MS);
      timer = setTimeout(round, delay);
    };
    // A backup key just received (after a verification, say): start again
    // from short pauses, as the keys it opens may still be on their way.
    const restart = () => {
      clearTimeout(timer);
      delay = RETRY_FIRST_MS;
      timer = setTimeout(round, delay);
    };
    timer = setTimeout(round, delay);
    client.on(CryptoEvent.KeyBackupDecryptionKeyCached, restart);
    return () => {
      clearTimeout(timer);
      client.off(CryptoEvent.KeyBackupDecryptionKeyCached, restart);
    };
  }, [client, room]);
}
