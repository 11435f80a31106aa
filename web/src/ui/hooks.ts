// Hooks that connect the views to the Matrix client and the app's signals.
import type { MatrixClient } from "matrix-js-sdk";
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

type Emitter = { on(e: string, f: (...a: unknown[]) => void): unknown; off(e: string, f: (...a: unknown[]) => void): unknown };

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
