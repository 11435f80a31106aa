// A matrix-js-sdk client for the room upgrade test: logs in, upgrades the
// room with `upgradeRoom`, then syncs until the SDK links the two rooms
// (the old room's tombstone to the new one, the new room's predecessor to
// the old one) and prints the result as one JSON line. Exits 0 on
// success, 1 on failure or after the time limit.
//
//   node upgrade.mjs <base_url> <user> <password> <room_id> <new_version>

import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

const [baseUrl, user, password, roomId, newVersion] = process.argv.slice(2);
const TIME_LIMIT_MS = 60_000;

logger.setLevel("warn");
const fail = (why) => {
  console.error("FAILED:", why);
  process.exit(1);
};
setTimeout(() => fail("time limit reached"), TIME_LIMIT_MS).unref();

const login = await sdk.createClient({ baseUrl }).loginRequest({
  type: "m.login.password",
  identifier: { type: "m.id.user", user },
  password,
});
const client = sdk.createClient({
  baseUrl,
  userId: login.user_id,
  deviceId: login.device_id,
  accessToken: login.access_token,
});

const { replacement_room: replacement } = await client.upgradeRoom(roomId, newVersion);
console.error("upgraded to", replacement);

const linked = () => {
  const history = client.getRoomUpgradeHistory(roomId, true).map((r) => r.roomId);
  return history.length === 2 && history[0] === roomId && history[1] === replacement;
};
client.on(sdk.ClientEvent.Sync, () => {
  if (!linked()) return;
  const tombstone = client.getRoom(roomId).currentState.getStateEvents("m.room.tombstone", "");
  const predecessor = client.getRoom(replacement).findPredecessor();
  console.log(
    JSON.stringify({
      replacement,
      successor: tombstone?.getContent().replacement_room,
      predecessor: predecessor?.roomId,
      version: client.getRoom(replacement).getVersion(),
    }),
  );
  client.stopClient();
  process.exit(0);
});
await client.startClient({ initialSyncLimit: 10 });
