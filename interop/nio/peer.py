"""A matrix-nio peer for missive-server's interoperability test.

matrix-nio (without its e2e extra: no libolm) is a third client stack,
independent of matrix-sdk and matrix-js-sdk, and it keeps its own habits:
the access token in the `access_token` query parameter, `POST /join/{id}`
with no body at all, uploads through `/_matrix/media/v3/upload`.

    python peer.py <base_url> <room_id> <alias> <file>

Registers `nio`, logs in again on a second device, creates a public room,
joins <room_id> by ID and <alias> by alias, sends "hello from nio" to
<room_id>, uploads <file>, downloads it back and checks the bytes, sends it
as an m.file message, then waits to receive "hello from rust" in <room_id>.
Each step prints one line `STEP value` on stdout, which the Rust test reads;
the test answers by sending its message once it has read `JOINED_ID`. Exits
0 on success, 1 on the first failure or after the time limit.
"""

import asyncio
import sys

from nio import (
    AsyncClient,
    DownloadError,
    JoinResponse,
    LoginResponse,
    RegisterResponse,
    RoomCreateResponse,
    RoomPreset,
    RoomSendResponse,
    RoomVisibility,
    SyncResponse,
    UploadResponse,
)

USER = "nio"
PASSWORD = "nio-peer-password"
EXPECTED = "hello from rust"
TIME_LIMIT_S = 90


def step(name: str, value: str = "") -> None:
    # One line per step: the test reads them line by line.
    value = " ".join(value.split())
    print(f"{name} {value}".rstrip(), flush=True)


def check(response, kind, what: str):
    if not isinstance(response, kind):
        raise RuntimeError(f"{what} failed: {response!r}")
    return response


async def run(base_url: str, room_id: str, alias: str, path: str) -> None:
    first = AsyncClient(base_url, USER)
    check(await first.register(USER, PASSWORD, "nio registration"), RegisterResponse, "register")
    step("REGISTERED", first.user_id)
    await first.close()

    client = AsyncClient(base_url, f"@{USER}:localhost")
    try:
        login = check(await client.login(PASSWORD, "nio peer"), LoginResponse, "login")
        step("LOGGED_IN", login.device_id)

        created = check(
            await client.room_create(
                visibility=RoomVisibility.public, name="made by nio", preset=RoomPreset.public_chat
            ),
            RoomCreateResponse,
            "createRoom",
        )
        step("CREATED", created.room_id)

        joined = check(await client.join(room_id), JoinResponse, "join by ID")
        if joined.room_id != room_id:
            raise RuntimeError(f"joined {joined.room_id}, not {room_id}")
        step("JOINED_ID", joined.room_id)
        by_alias = check(await client.join(alias), JoinResponse, "join by alias")
        step("JOINED_ALIAS", by_alias.room_id)

        content = {"msgtype": "m.text", "body": "hello from nio"}
        sent = check(await client.room_send(room_id, "m.room.message", content), RoomSendResponse, "send")
        step("SENT", sent.event_id)

        with open(path, "rb") as f:
            data = f.read()
        with open(path, "rb") as f:
            uploaded, _ = await client.upload(
                f, content_type="application/octet-stream", filename="nio.bin", filesize=len(data)
            )
        check(uploaded, UploadResponse, "upload")
        downloaded = await client.download(mxc=uploaded.content_uri)
        if isinstance(downloaded, DownloadError) or downloaded.body != data:
            raise RuntimeError(f"download gave back other bytes: {downloaded!r}")
        file_event = {
            "msgtype": "m.file",
            "body": "nio.bin",
            "url": uploaded.content_uri,
            "info": {"size": len(data), "mimetype": "application/octet-stream"},
        }
        check(await client.room_send(room_id, "m.room.message", file_event), RoomSendResponse, "send file")
        step("UPLOADED", uploaded.content_uri)

        # Long-poll until the Rust client's message arrives.
        since = None
        while True:
            synced = check(await client.sync(timeout=10_000, since=since), SyncResponse, "sync")
            since = synced.next_batch
            room = synced.rooms.join.get(room_id)
            events = room.timeline.events if room else []
            if any(getattr(e, "body", None) == EXPECTED and e.sender != client.user_id for e in events):
                step("RECEIVED", EXPECTED)
                return
    finally:
        await client.close()


def main() -> int:
    base_url, room_id, alias, path = sys.argv[1:5]
    try:
        asyncio.run(asyncio.wait_for(run(base_url, room_id, alias, path), TIME_LIMIT_S))
    except Exception as e:  # report any failure, timeouts included, as one line
        step("FAILED", f"{type(e).__name__}: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
