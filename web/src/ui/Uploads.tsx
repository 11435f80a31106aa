// Files being sent from a room: progress bars, and plain reasons when a
// file is refused (too large for the server, antivirus, quota…).
import type { MatrixClient } from "matrix-js-sdk";
import { useState } from "preact/hooks";
import { t } from "../i18n";
import { formatBytes } from "../lib/format";
import { FileTooLargeError, sendFile, type Progress } from "../matrix/files";
import { errorMessage } from "./common";

export interface Upload {
  id: number;
  name: string;
  progress: Progress;
  error?: string;
}

let uploadIds = 0;

export function useUploads(client: MatrixClient, roomId: string) {
  const [uploads, setUploads] = useState<Upload[]>([]);
  const upload = (files: File[]) => {
    for (const file of files) {
      const id = ++uploadIds;
      setUploads((u) => [...u, { id, name: file.name, progress: { loaded: 0, total: file.size } }]);
      const update = (patch: Partial<Upload>) =>
        setUploads((u) => u.map((x) => (x.id === id ? { ...x, ...patch } : x)));
      sendFile(client, roomId, file, (progress) => update({ progress }))
        .then(() => setUploads((u) => u.filter((x) => x.id !== id)))
        .catch((e) => {
          const reason =
            e instanceof FileTooLargeError
              ? t("fileTooLarge", { name: file.name, max: formatBytes(e.maxBytes) })
              : t("uploadFailed", { name: file.name, reason: errorMessage(e, "upload") });
          update({ error: reason });
        });
    }
  };
  const dismiss = (id: number) => setUploads((u) => u.filter((x) => x.id !== id));
  return { uploads, upload, dismiss };
}

export function UploadList(props: { uploads: Upload[]; onDismiss: (id: number) => void }) {
  return (
    <>
      {props.uploads.map((u) => (
        <div class="upload" key={u.id} role="status">
          {u.error ? (
            <>
              <span class="error">{u.error}</span>
              <button class="icon small" aria-label={t("close")} onClick={() => props.onDismiss(u.id)}>
                ✕
              </button>
            </>
          ) : (
            <>
              <span>{t("uploading", { name: u.name })}</span>
              <progress max={u.progress.total || 1} value={u.progress.loaded} />
            </>
          )}
        </div>
      ))}
    </>
  );
}
