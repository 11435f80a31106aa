"""Turns the homeserver.yaml Synapse generated into the one the federation
interoperability tests run: a plain client listener, a TLS federation
listener with the harness's self-signed certificate, loopback peers allowed,
peers' certificates unchecked, keys fetched from each server directly,
registration open and rate limits lifted (tests register and send fast).

Usage: configure.py CONFIG CLIENT_PORT FEDERATION_PORT DATA_DIR CERT KEY
"""

import sys

import yaml

path, client_port, federation_port, data, cert, key = sys.argv[1:7]
config = yaml.safe_load(open(path))
loopback = ["127.0.0.1"]
config["listeners"] = [
    {"port": int(client_port), "type": "http", "bind_addresses": loopback, "tls": False,
     "x_forwarded": False, "resources": [{"names": ["client", "media"], "compress": False}]},
    {"port": int(federation_port), "type": "http", "bind_addresses": loopback, "tls": True,
     "resources": [{"names": ["federation", "keys"], "compress": False}]},
]
config["tls_certificate_path"] = cert
config["tls_private_key_path"] = key
config["federation_verify_certificates"] = False
# Synapse refuses to reach private and loopback addresses by default.
config["ip_range_blacklist"] = []
config["federation_ip_range_blacklist"] = []
config["trusted_key_servers"] = []
config["suppress_key_server_warning"] = True
config["report_stats"] = False
config["database"] = {"name": "sqlite3", "args": {"database": f"{data}/homeserver.db"}}
config["enable_registration"] = True
config["enable_registration_without_verification"] = True
config["bcrypt_rounds"] = 4
config["presence"] = {"enabled": True}
lifted = {"per_second": 100000, "burst_count": 100000}
for name in ["rc_message", "rc_registration", "rc_3pid_validation", "rc_admin_redaction",
             "rc_room_creation", "rc_joins_per_room", "rc_federation", "rc_key_requests",
             "rc_presence", "rc_delayed_event_mgmt", "rc_reports"]:
    config[name] = lifted
config["rc_federation"] = {"window_size": 1000, "sleep_limit": 10000, "sleep_delay": 0,
                           "reject_limit": 10000, "concurrent": 100}
config["rc_joins"] = {"local": lifted, "remote": lifted}
config["rc_invites"] = {"per_room": lifted, "per_user": lifted, "per_issuer": lifted}
config["rc_login"] = {"address": lifted, "account": lifted, "failed_attempts": lifted}
config["log_config"] = f"{data}/log.yaml"
with open(f"{data}/log.yaml", "w") as out:
    yaml.safe_dump({
        "version": 1,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        "handlers": {"file": {"class": "logging.FileHandler", "formatter": "plain",
                              "filename": f"{data}/synapse.log"}},
        "root": {"level": "INFO", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }, out)
yaml.safe_dump(config, open(path, "w"))
