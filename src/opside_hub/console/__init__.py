"""The operator's commands beyond serving: `sync`, `status` and `sandbox seed`.

`sync` and `sandbox seed` talk to a *running* hub over HTTP and its WebSocket, exactly as the
dashboard does, so they work from a second terminal beside `make run` (whose Redis is embedded
in that process, on a unix socket no other process should share) and against any deployment
whose `JWT_SECRET` they know or whose user token they are given. `status` reads the database
directly: it needs no server, and it can list every user, which no user token may.
"""
