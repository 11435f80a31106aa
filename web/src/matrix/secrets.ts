// The secret-storage (recovery) key, held in memory only while a security
// step needs it: creating the backup, or unlocking it on a new device. It
// is never written anywhere by Missive.
import type { CryptoCallbacks } from "matrix-js-sdk/lib/crypto-api/index.js";

let current: { keyId?: string; key: Uint8Array } | null = null;

/** Makes `key` available to the crypto layer for the next steps. */
export function provideSecretStorageKey(key: Uint8Array, keyId?: string): void {
  current = { key, keyId };
}

export function forgetSecretStorageKey(): void {
  current = null;
}

export const secretStorageCallbacks: CryptoCallbacks = {
  getSecretStorageKey({ keys }) {
    if (!current) return Promise.resolve(null);
    const ids = Object.keys(keys);
    const keyId = current.keyId && ids.includes(current.keyId) ? current.keyId : ids[0];
    return Promise.resolve(keyId ? [keyId, current.key] : null);
  },
  cacheSecretStorageKey(keyId, _info, key) {
    current = { keyId, key };
  },
};
