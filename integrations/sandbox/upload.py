"""The sandbox destination: checks every row as a platform would, sends nothing, and has the sync keep each payload."""

from __future__ import annotations

from collections import Counter

from integrations.audience_upload import VALUE, UploadResult, UploadRow


def _checked(rows: list[UploadRow]) -> UploadResult:
    reasons: Counter[str] = Counter()
    for row in rows:
        identifiers = [value for key, value in row.hashes.items() if key != VALUE]
        if not identifiers:
            reasons["no usable identifier"] += 1
        elif any(len(value) != 64 for value in identifiers):
            reasons["identifier not hashed"] += 1
    invalid = sum(reasons.values())
    return UploadResult(accepted=len(rows) - invalid, invalid=invalid, reasons=dict(reasons))


class SandboxUploader:
    """Sends nothing anywhere: accepts what a platform would accept, and the sync records each batch's payload
    so the marketer can see exactly what would have been sent (Meta's multi-key schema)."""

    records_payload = True

    def __init__(self, *, batch_size: int = 10_000) -> None:
        self.batch_size = batch_size

    def add(self, rows: list[UploadRow], *, last: bool = False) -> UploadResult:
        return _checked(rows)

    def remove(self, rows: list[UploadRow]) -> UploadResult:
        return _checked(rows)
