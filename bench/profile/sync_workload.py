"""Drives a missive-server running under callgrind through a fixed workload
and dumps instruction counts per phase (see ../profile-sync.sh).

Phases, each dumped to its own callgrind file:
  rounds   bob sends one message, alice makes one incremental sync
           (lazy-loaded members), N times, after 30 rounds of warm-up;
  initial  five initial syncs of alice (5 rooms x 20 messages each);
  fresh    the benchmark's initial-sync shape: one user with 50 rooms x 10
           messages, a fresh login, three initial syncs.
Instruction counts do not depend on the machine's load, so two builds can be
compared on a busy machine.
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

PID = os.environ["CG_PID"]
BASE = sys.argv[1]
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 100
LAZY = "%7B%22room%22%3A%7B%22state%22%3A%7B%22lazy_load_members%22%3Atrue%7D%7D%7D"


def callgrind(flag):
    subprocess.run(["callgrind_control", flag, PID], check=True, capture_output=True)


def req(method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    r = urllib.request.Request(BASE + path, data=data, method=method)
    r.add_header("Content-Type", "application/json")
    if token:
        r.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(r) as f:
        return json.loads(f.read())


def register(name):
    body = {"username": name, "password": f"pw-{name}-long-enough", "auth": {"type": "m.login.dummy"}}
    return req("POST", "/_matrix/client/v3/register", body)["access_token"]


def send(token, room, txn, text):
    body = {"msgtype": "m.text", "body": text}
    req("PUT", f"/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}", body, token)


alice, bob = register("alice"), register("bob")
rooms = []
for i in range(5):
    body = {"preset": "private_chat", "invite": ["@alice:localhost"]}
    room = req("POST", "/_matrix/client/v3/createRoom", body, bob)["room_id"]
    req("POST", f"/_matrix/client/v3/join/{room}", {}, alice)
    rooms.append(room)
    for j in range(20):
        send(bob, room, f"s{i}-{j}", f"hello {i} {j}")
since = req("GET", f"/_matrix/client/v3/sync?filter={LAZY}", token=alice)["next_batch"]


def round_trip(txn):
    global since
    send(bob, rooms[0], txn, f"round {txn}")
    since = req("GET", f"/_matrix/client/v3/sync?since={since}&timeout=0&filter={LAZY}", token=alice)["next_batch"]


for k in range(30):
    round_trip(f"w{k}")
for _ in range(3):
    req("GET", f"/_matrix/client/v3/sync?filter={LAZY}", token=alice)
callgrind("-z")
for k in range(ROUNDS):
    round_trip(f"r{k}")
callgrind("--dump=rounds")
for _ in range(5):
    req("GET", f"/_matrix/client/v3/sync?filter={LAZY}", token=alice)
callgrind("--dump=initial")

owner = register("owner")
many = [req("POST", "/_matrix/client/v3/createRoom", {}, owner)["room_id"] for _ in range(50)]
for i, room in enumerate(many):
    for n in range(10):
        send(owner, room, f"f{i}-{n}", "history")
body = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "owner"},
        "password": "pw-owner-long-enough"}
fresh = req("POST", "/_matrix/client/v3/login", body)["access_token"]
time.sleep(3)  # background work (search indexing) done before measuring
callgrind("-z")
for _ in range(3):
    req("GET", "/_matrix/client/v3/sync?timeout=0", token=fresh)
callgrind("--dump=fresh")
