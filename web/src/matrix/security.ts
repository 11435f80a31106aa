// Cross-signing and the secure backup, following Element's model: one
// recovery key unlocks the account's secret storage, which holds the
// cross-signing keys and the key-backup key. All crypto is matrix-js-sdk's
// (Rust crypto compiled to wasm).
import type { MatrixClient } from "matrix-js-sdk";
import { decodeRecoveryKey, type GeneratedSecretStorageKey } from "matrix-js-sdk/lib/crypto-api/index.js";
import type { UIAuthCallback } from "matrix-js-sdk/lib/interactive-auth.js";
import { provideSecretStorageKey } from "./secrets";

export type SecurityState =
  /** The account has no cross-signing yet: offer to set up the backup. */
  | "needs-setup"
  /** The account is set up but this device is not verified. */
  | "needs-verification"
  | "ready";

export class WrongRecoveryKeyError extends Error {
  constructor() {
    super("wrong recovery key");
  }
}

function crypto(client: MatrixClient) {
  const c = client.getCrypto();
  if (!c) throw new Error("encryption is not available in this browser");
  return c;
}

export async function securityState(client: MatrixClient): Promise<SecurityState> {
  const c = crypto(client);
  const userId = client.getSafeUserId();
  if (!(await c.userHasCrossSigningKeys(userId, true))) return "needs-setup";
  const status = await c.getDeviceVerificationStatus(userId, client.getDeviceId()!);
  return status?.crossSigningVerified ? "ready" : "needs-verification";
}

/** A new recovery key, shown to the user before anything is uploaded. */
export function generateRecoveryKey(client: MatrixClient): Promise<GeneratedSecretStorageKey> {
  return crypto(client).createRecoveryKeyFromPassphrase();
}

/** Answers the server's password challenge when uploading keys needs it
 * (the first upload does not, replacing keys does). */
function passwordAuth(client: MatrixClient, password: string | undefined): UIAuthCallback<void> {
  return async (makeRequest) => {
    try {
      await makeRequest(null);
    } catch (e) {
      const err = e as { httpStatus?: number; data?: { session?: string } };
      if (err.httpStatus !== 401 || password === undefined) throw e;
      await makeRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: client.getSafeUserId() },
        password,
        session: err.data?.session,
      });
    }
  };
}

/** Creates cross-signing keys, secret storage under `key`, and a new key
 * backup; this device becomes verified. With `reset`, replaces them all. */
export async function setUpSecureBackup(
  client: MatrixClient,
  key: GeneratedSecretStorageKey,
  password: string | undefined,
  reset = false,
): Promise<void> {
  const c = crypto(client);
  provideSecretStorageKey(key.privateKey);
  await c.bootstrapCrossSigning({
    authUploadDeviceSigningKeys: passwordAuth(client, password),
    setupNewCrossSigning: reset,
  });
  await c.bootstrapSecretStorage({
    createSecretStorageKey: () => Promise.resolve(key),
    setupNewSecretStorage: true,
    setupNewKeyBackup: true,
  });
}

/** Unlocks secret storage with the recovery key the user typed: verifies
 * this device with the stored cross-signing keys and restores the message
 * keys from the backup. Returns how many keys were restored. */
export async function unlockWithRecoveryKey(client: MatrixClient, typed: string): Promise<number> {
  let key: Uint8Array;
  try {
    key = decodeRecoveryKey(typed.trim());
  } catch {
    throw new WrongRecoveryKeyError();
  }
  const keyId = await client.secretStorage.getDefaultKeyId();
  const stored = keyId ? await client.secretStorage.getKey(keyId) : null;
  if (!keyId || !stored || !(await client.secretStorage.checkKey(key, stored[1]))) {
    throw new WrongRecoveryKeyError();
  }
  provideSecretStorageKey(key, keyId);
  const c = crypto(client);
  // Imports the cross-signing keys from secret storage and signs this device.
  await c.bootstrapCrossSigning({});
  await c.loadSessionBackupPrivateKeyFromSecretStorage();
  await c.checkKeyBackupAndEnable();
  const result = await c.restoreKeyBackup();
  return result.imported;
}
