from __future__ import annotations

from opside_hub.core.exceptions import BadRequest, Conflict, NotFound


class SyncAlreadyRunning(Conflict):
    code = "sync_in_progress"
    message = "A sync is already running for this user."

    def __init__(self, sync_id: str) -> None:
        super().__init__(details={"syncId": sync_id})
        self.sync_id = sync_id


class SyncNotFound(NotFound):
    code = "sync_not_found"
    message = "No such sync."


class NothingToSync(BadRequest):
    code = "nothing_to_sync"
    message = "None of the requested providers is connected."


class SyncCancelled(Exception):
    """Raised at a safe point of a run whose cancellation was requested."""


class SyncNotFinished(Conflict):
    code = "sync_finished"
    message = "This sync has already finished."
