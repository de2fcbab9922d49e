"""Syncing an audience to a destination: send only the difference between the members and the ledger.

Who may be uploaded: members of the audience, not erased, whose latest ad-audience consent is a grant. The diff
is two queries (``selectors``): members the ledger does not hold as added (to add), and ledger rows held as added
whose lead is no longer eligible (to remove, in mirror mode). Rows (``rows``) go out in the destination's batch size
(``batches``); the ledger records each accepted batch, so a failed batch is simply part of the next diff and the ledger
converges. ``engine`` runs a sync under the destination's lock; ``pausing`` records a platform's error on the run (what
the connection does next is ``audiences.connections``); ``outcomes`` follows requests applied later; ``platforms`` makes
each platform's client.
"""

from audiences.sync.engine import (
    PREVIEW_ROWS,
    SyncInProgress,
    destination_busy,
    destination_lock,
    destination_reconcile,
    destination_sync,
)
from audiences.sync.outcomes import requests_outcome_check
from audiences.sync.platforms import uploader_for
from audiences.sync.rows import chunked, lead_hashes, upload_rows, with_last
from audiences.sync.selectors import (
    destinations_holding,
    destinations_sending,
    eligible_leads,
    leads_to_add,
    ledger_maybe_changed,
    ledger_to_remove,
)

__all__ = [
    "PREVIEW_ROWS",
    "SyncInProgress",
    "chunked",
    "destination_busy",
    "destination_lock",
    "destination_reconcile",
    "destination_sync",
    "destinations_holding",
    "destinations_sending",
    "eligible_leads",
    "lead_hashes",
    "leads_to_add",
    "ledger_maybe_changed",
    "ledger_to_remove",
    "requests_outcome_check",
    "upload_rows",
    "uploader_for",
    "with_last",
]
