// Signing in, registering, and starting the Matrix client. The session
// (access token, device) is kept in localStorage and the client's sync and
// crypto state in IndexedDB, so a reload resumes without signing in again.
import {
  createClient,
  IndexedDBStore,
  type LoginResponse,
  type MatrixClient,
  type RegisterResponse,
} from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { secretStorageCallbacks, forgetSecretStorageKey } from "./secrets";

// The SDK logs every sync step by default; keep warnings only.
(logger as unknown as { setLevel(level: string): void }).setLevel("warn");

export interface Credentials {
  homeserverUrl: string;
  userId: string;
  deviceId: string;
  accessToken: string;
}

export interface ServerInfo {
  homeserverUrl: string;
  serverName: string;
  registration: "open" | "token" | "disabled";
}

const SESSION_KEY = "missive.session";
const DEVICE_NAME = "Missive web";

/** Where the homeserver is: the server that served this page tells us in
 * `/config.json`; without a configured URL it is this page's origin. */
export async function discoverServer(): Promise<ServerInfo> {
  const origin = window.location.origin;
  try {
    const res = await fetch("/config.json", { cache: "no-cache" });
    const config = (await res.json()) as {
      homeserver_url?: string | null;
      server_name?: string;
      registration?: string;
    };
    return {
      homeserverUrl: config.homeserver_url || origin,
      serverName: config.server_name ?? window.location.hostname,
      registration: (config.registration as ServerInfo["registration"]) ?? "open",
    };
  } catch {
    return { homeserverUrl: origin, serverName: window.location.hostname, registration: "open" };
  }
}

export function loadCredentials(): Credentials | null {
  const raw = localStorage.getItem(SESSION_KEY);
  if (!raw) return null;
  try {
    const c = JSON.parse(raw) as Credentials;
    return c.accessToken && c.userId && c.deviceId && c.homeserverUrl ? c : null;
  } catch {
    return null;
  }
}

function saveCredentials(c: Credentials): void {
  localStorage.setItem(SESSION_KEY, JSON.stringify(c));
}

function toCredentials(homeserverUrl: string, r: LoginResponse | RegisterResponse): Credentials {
  if (!r.access_token || !r.device_id) throw new Error("the server returned no session");
  return { homeserverUrl, userId: r.user_id, deviceId: r.device_id, accessToken: r.access_token };
}

export async function login(server: ServerInfo, username: string, password: string): Promise<Credentials> {
  const anonymous = createClient({ baseUrl: server.homeserverUrl });
  const res = await anonymous.loginRequest({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: username.trim() },
    password,
    initial_device_display_name: DEVICE_NAME,
  });
  const creds = toCredentials(server.homeserverUrl, res);
  saveCredentials(creds);
  return creds;
}

interface UiaResponse {
  session?: string;
  flows?: { stages: string[] }[];
}

/** Registers through user-interactive auth: the dummy stage, or the
 * registration token stage when the server asks for one. */
export async function register(
  server: ServerInfo,
  username: string,
  password: string,
  token?: string,
): Promise<Credentials> {
  const anonymous = createClient({ baseUrl: server.homeserverUrl });
  const body = {
    username: username.trim().toLowerCase(),
    password,
    initial_device_display_name: DEVICE_NAME,
  };
  let uia: UiaResponse;
  try {
    const res = await anonymous.registerRequest(body);
    return finishRegistration(server, res);
  } catch (e) {
    const data = (e as { data?: UiaResponse; httpStatus?: number }).data;
    if ((e as { httpStatus?: number }).httpStatus !== 401 || !data?.flows) throw e;
    uia = data;
  }
  const stages = uia.flows!.map((f) => f.stages);
  let res: RegisterResponse | undefined;
  if (stages.some((s) => s.length === 1 && s[0] === "m.login.dummy")) {
    res = await anonymous.registerRequest({ ...body, auth: { type: "m.login.dummy", session: uia.session } });
  } else if (stages.some((s) => s[0] === "m.login.registration_token")) {
    try {
      res = await anonymous.registerRequest({
        ...body,
        auth: { type: "m.login.registration_token", token: token ?? "", session: uia.session },
      });
    } catch (e) {
      // Completing the token stage may leave a dummy stage to finish.
      const data = (e as { data?: UiaResponse & { completed?: string[] } }).data;
      if (!data?.completed?.includes("m.login.registration_token")) throw e;
      res = await anonymous.registerRequest({ ...body, auth: { type: "m.login.dummy", session: uia.session } });
    }
  } else {
    throw Object.assign(new Error("registration needs steps this client cannot do"), { data: uia });
  }
  return finishRegistration(server, res);
}

function finishRegistration(server: ServerInfo, res: RegisterResponse): Credentials {
  const creds = toCredentials(server.homeserverUrl, res);
  saveCredentials(creds);
  return creds;
}

/** The crypto store of a previous session in this browser, deleted before
 * a new sign-in: it belongs to another device and cannot be reused. */
const CRYPTO_DATABASES = ["matrix-js-sdk::matrix-sdk-crypto", "matrix-js-sdk::matrix-sdk-crypto-meta"];

function deleteDatabase(name: string): Promise<void> {
  return new Promise((resolve) => {
    const req = window.indexedDB.deleteDatabase(name);
    req.onsuccess = req.onerror = req.onblocked = () => resolve();
  });
}

/** Creates, restores and starts the client for a session; `fresh` for a
 * session that was just created by signing in. */
export async function startClient(creds: Credentials, fresh: boolean): Promise<MatrixClient> {
  if (fresh) await Promise.all(CRYPTO_DATABASES.map(deleteDatabase));
  const store = new IndexedDBStore({
    indexedDB: window.indexedDB,
    localStorage: window.localStorage,
    dbName: `missive-sync-${creds.userId}`,
  });
  const client = createClient({
    baseUrl: creds.homeserverUrl,
    userId: creds.userId,
    deviceId: creds.deviceId,
    accessToken: creds.accessToken,
    store,
    cryptoCallbacks: secretStorageCallbacks,
    timelineSupport: true,
  });
  // Loads the saved sync state; the SDK requires the client to exist first.
  await store.startup();
  await client.initRustCrypto({ useIndexedDB: true });
  await client.startClient({ initialSyncLimit: 30, lazyLoadMembers: true });
  return client;
}

/** Signs out this device and deletes everything kept in the browser. */
export async function logout(client: MatrixClient): Promise<void> {
  try {
    await client.logout(true);
  } catch {
    // The token may already be gone; clearing local state is what matters.
  }
  client.stopClient();
  await client.clearStores();
  forgetSecretStorageKey();
  localStorage.removeItem(SESSION_KEY);
}

/** After the server forgot our token (signed out elsewhere). */
export function forgetSession(): void {
  localStorage.removeItem(SESSION_KEY);
}
