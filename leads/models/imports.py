"""Imports of an existing list: the uploaded file, how its columns map onto a lead, the consent basis the marketer
stated for the whole list, progress, and each row that could not be imported. Written only by leads.imports."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from common.storage import private_storage


class LeadImport(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Waiting for its column mapping"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Importing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100, help_text="What the list is, e.g. “Newsletter subscribers 2025”.")
    file = models.FileField(upload_to="imports/%Y/%m/", storage=private_storage, max_length=300)
    delimiter = models.CharField(max_length=1, default=",")
    columns = models.JSONField(default=list, help_text="The file's header row, as written.")
    mapping = models.JSONField(default=dict, blank=True, help_text="Column name → lead field.")
    purposes = models.JSONField(default=list, help_text="The consents every person on the list gave.")
    wording = models.TextField(help_text="What the people on the list agreed to, in the words they were shown.")
    legal_basis = models.CharField(max_length=20)
    assume_eea = models.BooleanField(
        default=True, help_text="Treat people without a country as under EEA/UK rules (explicit consent needed)."
    )
    default_country = models.CharField(max_length=2, blank=True, help_text="For phone numbers without +country.")
    tag = models.ForeignKey("leads.Tag", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    reason = models.CharField(max_length=300, blank=True, help_text="Why it failed.")
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0, help_text="Rows read so far: where a resumed run goes on.")
    created = models.PositiveIntegerField(default=0, help_text="New leads.")
    merged = models.PositiveIntegerField(default=0, help_text="Rows for leads already known (empty fields filled).")
    repeated = models.PositiveIntegerField(default=0, help_text="Rows repeating an address seen earlier in the file.")
    invalid = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0, help_text="Addresses that asked to be forgotten.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "list import"

    def __str__(self) -> str:
        return self.name

    @property
    def source(self) -> str:
        """What each consent row of the import names as where it was given."""
        return f"import {self.pk}: {self.name}"[:200]


class ImportProblem(models.Model):
    """A row the import skipped, and why; the row itself stays in the uploaded file (never copied)."""

    lead_import = models.ForeignKey(LeadImport, on_delete=models.CASCADE, related_name="problems")
    row = models.PositiveIntegerField(help_text="The line in the file (the header is line 1).")
    field = models.CharField(max_length=20)
    message = models.CharField(max_length=300)

    class Meta:
        ordering = ["row", "id"]

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.message}"
