// A matrix-js-sdk peer for interoperability tests: logs in, joins the room
// it is invited to, waits for an encrypted message with the expected body,
// and answers with an encrypted reply. Exits 0 on success, 1 on failure or
// after the time limit.
//
//   node peer.mjs <base_url> <user> <password> <room_id> <expected_body> <reply_body>

import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

const [baseUrl, user, password, roomId, expected, reply] = process.argv.slice(2);
const TIME_LIMIT_MS = 90_000;

logger.setLevel("warn");
const log = (...args) => console.log(`[js-peer ${new Date().toISOString()}]`, ...args);
const fail = (why) => {
  log("FAILED:", why);
  process.exit(1);
};
setTimeout(() => fail("time limit reached"), TIME_LIMIT_MS).unref();

const login = await sdk.createClient({ baseUrl }).loginRequest({
  type: "m.login.password",
  identifier: { type: "m.id.user", user },
  password,
  initial_device_display_name: "matrix-js-sdk peer",
});
log("logged in as", login.user_id, "device", login.device_id);

const client = sdk.createClient({
  baseUrl,
  userId: login.user_id,
  deviceId: login.device_id,
  accessToken: login.access_token,
});
await client.initRustCrypto({ useIndexedDB: false });

let replied = false;
const tryEvent = async (event) => {
  if (replied || event.getRoomId() !== roomId) return;
  if (event.isBeingDecrypted() || event.shouldAttemptDecryption()) {
    await event.getDecryptionPromise?.();
  }
  if (event.getType() !== "m.room.message" || !event.isEncrypted()) return;
  const body = event.getContent()?.body;
  log("decrypted a message:", JSON.stringify(body));
  if (body !== expected) return;
  replied = true;
  const res = await client.sendMessage(roomId, { msgtype: "m.text", body: reply });
  log("sent encrypted reply", res.event_id);
  // Let the send settle, then leave cleanly.
  setTimeout(() => {
    client.stopClient();
    process.exit(0);
  }, 500);
};

client.on(sdk.RoomEvent.Timeline, (event) => void tryEvent(event).catch((e) => fail(e)));
client.on(sdk.MatrixEventEvent.Decrypted, (event) => void tryEvent(event).catch((e) => fail(e)));
client.on(sdk.RoomMemberEvent.Membership, async (_event, member) => {
  if (member.userId === login.user_id && member.membership === "invite" && member.roomId === roomId) {
    log("invited; joining", roomId);
    await client.joinRoom(roomId).catch((e) => fail(e));
  }
});

await client.startClient({ initialSyncLimit: 20 });
log("syncing");
// The invite may already be in the initial sync.
client.once(sdk.ClientEvent.Sync, async (state) => {
  if (state !== "PREPARED") return;
  const room = client.getRoom(roomId);
  if (room?.getMyMembership() === "invite") {
    log("invited before start; joining", roomId);
    await client.joinRoom(roomId).catch((e) => fail(e));
  }
});
