// Files in and out of rooms. In encrypted rooms the file is encrypted in the
// browser (matrix-encrypt-attachment, WebCrypto AES-CTR) before upload and
// decrypted after download: the server only ever holds ciphertext.
import type { MatrixClient } from "matrix-js-sdk";
import { decryptAttachment, encryptAttachment, type IEncryptedFile } from "matrix-encrypt-attachment";

export class FileTooLargeError extends Error {
  constructor(public readonly maxBytes: number) {
    super("file too large");
  }
}

/** Image types a browser may show inline; anything else is only offered
 * for download (a blob of HTML or SVG would run as this page's origin). */
const INLINE_IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

let uploadLimit: Promise<number | undefined> | undefined;

/** The server's upload size limit, asked once. */
export function maxUploadBytes(client: MatrixClient): Promise<number | undefined> {
  uploadLimit ??= client
    .getMediaConfig(true)
    .then((c) => c["m.upload.size"])
    .catch(() => undefined);
  return uploadLimit;
}

async function imageSize(file: Blob): Promise<{ w: number; h: number } | undefined> {
  try {
    const bitmap = await createImageBitmap(file);
    const size = { w: bitmap.width, h: bitmap.height };
    bitmap.close();
    return size;
  } catch {
    return undefined;
  }
}

export interface Progress {
  loaded: number;
  total: number;
}

/** Uploads `file` and posts it to the room as an image or a file. */
export async function sendFile(
  client: MatrixClient,
  roomId: string,
  file: File,
  onProgress: (p: Progress) => void,
): Promise<void> {
  const max = await maxUploadBytes(client);
  if (max !== undefined && file.size > max) throw new FileTooLargeError(max);
  const encrypted = (await client.getCrypto()?.isEncryptionEnabledInRoom(roomId)) ?? false;
  const mimetype = file.type || "application/octet-stream";
  const isImage = INLINE_IMAGE_TYPES.has(mimetype);
  const info: Record<string, unknown> = { mimetype, size: file.size };
  if (isImage) Object.assign(info, await imageSize(file));
  const content: Record<string, unknown> = { msgtype: isImage ? "m.image" : "m.file", body: file.name, info };
  const progressHandler = (p: Progress) => onProgress(p);
  if (encrypted) {
    const { data, info: keys } = await encryptAttachment(await file.arrayBuffer());
    const upload = await client.uploadContent(new Blob([data]), {
      type: "application/octet-stream",
      includeFilename: false,
      progressHandler,
    });
    content.file = { ...keys, url: upload.content_uri, mimetype };
  } else {
    const upload = await client.uploadContent(file, { type: mimetype, name: file.name, progressHandler });
    content.url = upload.content_uri;
  }
  await client.sendMessage(roomId, content as never);
}

/** Fetches (and, for encrypted files, decrypts) a message's file. */
export async function fetchFile(client: MatrixClient, content: Record<string, unknown>): Promise<Blob> {
  const file = content.file as (IEncryptedFile & { url: string }) | undefined;
  const mxc = file?.url ?? (content.url as string | undefined);
  if (!mxc) throw new Error("no file");
  const bytes = await fetchMxc(client, mxc);
  const plain = file ? await decryptAttachment(bytes, file) : bytes;
  const mimetype = ((content.info as { mimetype?: string } | undefined)?.mimetype ?? "").toLowerCase();
  return new Blob([plain], { type: INLINE_IMAGE_TYPES.has(mimetype) ? mimetype : "application/octet-stream" });
}

/** Downloads through the authenticated media API. */
export async function fetchMxc(
  client: MatrixClient,
  mxc: string,
  thumbnail?: { width: number; height: number },
): Promise<ArrayBuffer> {
  const url = client.mxcUrlToHttp(
    mxc,
    thumbnail?.width,
    thumbnail?.height,
    thumbnail ? "crop" : undefined,
    false,
    true,
    true,
  );
  if (!url) throw new Error("not a media URL");
  const res = await fetch(url, { headers: { Authorization: `Bearer ${client.getAccessToken()}` } });
  if (!res.ok) throw Object.assign(new Error(`media ${res.status}`), { httpStatus: res.status });
  return res.arrayBuffer();
}

export function isInlineImage(content: Record<string, unknown>): boolean {
  const mimetype = (content.info as { mimetype?: string } | undefined)?.mimetype ?? "";
  return content.msgtype === "m.image" && INLINE_IMAGE_TYPES.has(mimetype.toLowerCase());
}
