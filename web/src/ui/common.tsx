// Small building blocks shared by the views.
import type { ComponentChildren } from "preact";
import type { MatrixClient } from "matrix-js-sdk";
import { useEffect, useRef } from "preact/hooks";
import { initials } from "../lib/format";
import { describeError, type ErrorContext } from "../lib/errors";
import { t } from "../i18n";
import { useAvatarUrl } from "./hooks";

export function Avatar(props: { client: MatrixClient; name: string; mxc?: string | null; size?: number }) {
  const size = props.size ?? 36;
  const url = useAvatarUrl(props.client, props.mxc, size * 2);
  // A stable colour per name so people are told apart at a glance.
  let hash = 0;
  for (const ch of props.name) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return (
    <span
      class="avatar"
      aria-hidden="true"
      style={{
        width: `${size}px`,
        height: `${size}px`,
        fontSize: `${size * 0.42}px`,
        background: `hsl(${hash % 360} 45% 42%)`,
      }}
    >
      {url ? <img src={url} alt="" /> : initials(props.name)}
    </span>
  );
}

/** A modal dialog: focus moves into it, Escape closes it. */
export function Dialog(props: { title: string; onClose?: () => void; children: ComponentChildren; wide?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const first = ref.current?.querySelector<HTMLElement>("input, textarea, select, button:not(.dialog-close)");
    first?.focus();
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && props.onClose?.();
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  return (
    <div class="backdrop" onClick={(e) => e.target === e.currentTarget && props.onClose?.()}>
      <div
        class={props.wide ? "dialog wide" : "dialog"}
        role="dialog"
        aria-modal="true"
        aria-label={props.title}
        ref={ref}
      >
        <header class="dialog-header">
          <h2>{props.title}</h2>
          {props.onClose && (
            <button class="icon dialog-close" aria-label={t("close")} onClick={props.onClose}>
              ✕
            </button>
          )}
        </header>
        {props.children}
      </div>
    </div>
  );
}

/** The user's words for an error, or nothing. */
export function ErrorText(props: { error: unknown; context?: ErrorContext }) {
  if (props.error === undefined || props.error === null) return null;
  const m = describeError(props.error, props.context);
  return (
    <p class="error" role="alert">
      {t(m.key, m.vars)}
    </p>
  );
}

export function errorMessage(error: unknown, context?: ErrorContext): string {
  const m = describeError(error, context);
  return t(m.key, m.vars);
}
