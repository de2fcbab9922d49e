"""The staff API's resources under a lead: its notes, tasks, stage moves and score log (and one task by id)."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from leads import scoring
from leads.models import Lead, Note, ScoreEvent, Stage, StageMove, Task
from leads.pipeline import leads_stage_move, note_add, task_add, task_change
from pipeline.api.serializers import (
    AdjustSerializer,
    MoveSerializer,
    NoteSerializer,
    ScoreEventSerializer,
    StageMoveSerializer,
    TaskSerializer,
)
from pipeline.api.views import ABOUT_A_LEAD, REFUSED, Cursor, _lead, _Staff

NO_TASK = OpenApiResponse(description="No such task.")


@extend_schema_view(get=extend_schema(responses={200: NoteSerializer(many=True), **ABOUT_A_LEAD}))
class LeadNotes(_Staff, generics.ListAPIView):
    """A lead's notes, newest first; POST adds one (notes are never edited)."""

    perms = {"GET": ("leads.view_note",), "POST": ("leads.add_note",)}
    serializer_class = NoteSerializer
    pagination_class = Cursor

    def get_queryset(self) -> QuerySet[Note]:
        return Note.objects.filter(lead=_lead(self.kwargs["public_id"])).select_related("author")

    @extend_schema(request=NoteSerializer, responses={201: NoteSerializer, **ABOUT_A_LEAD})
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        lead = _lead(public_id)
        serializer = NoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        note = note_add(lead=lead, author_id=request.user.pk, body=serializer.validated_data["body"])
        return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)


@extend_schema_view(get=extend_schema(responses={200: TaskSerializer(many=True), **ABOUT_A_LEAD}))
class LeadTasks(_Staff, generics.ListAPIView):
    """A lead's tasks, open first by due time; POST adds one."""

    perms = {"GET": ("leads.view_task",), "POST": ("leads.add_task",)}
    serializer_class = TaskSerializer
    pagination_class = Cursor

    def get_queryset(self) -> QuerySet[Task]:
        return Task.objects.filter(lead=_lead(self.kwargs["public_id"])).select_related("lead")

    def paginate_queryset(self, queryset: Any) -> Any:
        self.paginator.ordering = "due_at"  # type: ignore[union-attr]
        return super().paginate_queryset(queryset)

    @extend_schema(request=TaskSerializer, responses={201: TaskSerializer, **ABOUT_A_LEAD})
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        lead = _lead(public_id)
        serializer = TaskSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        assignee = data.get("assignee", request.user)
        task = task_add(
            lead=lead,
            title=data["title"],
            due_at=data["due_at"],
            kind=data.get("kind", Task.Kind.FOLLOW_UP),
            assignee_id=assignee.pk if assignee else None,
            created_by_id=request.user.pk,
        )
        return Response(TaskSerializer(task).data, status=status.HTTP_201_CREATED)


class TaskDetail(_Staff):
    """Change a task: its title, due time, assignee, or ``"done": true``."""

    perms = {"PATCH": ("leads.change_task",), "GET": ("leads.view_task",)}

    @extend_schema(responses={200: TaskSerializer, 404: NO_TASK, **REFUSED})
    def get(self, request: Request, pk: int) -> Response:
        return Response(TaskSerializer(get_object_or_404(Task.objects.select_related("lead"), pk=pk)).data)

    @extend_schema(
        request=TaskSerializer,
        responses={200: TaskSerializer, 404: OpenApiResponse(description="No such task."), **REFUSED},
    )
    def patch(self, request: Request, pk: int) -> Response:
        task = get_object_or_404(Task.objects.select_related("lead"), pk=pk)
        serializer = TaskSerializer(task, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        done = data.pop("done", None)
        for name, value in data.items():
            setattr(task, name, value)
        fields = list(data)
        if done is True and task.done_at is None:
            task.done_at, fields = timezone.now(), [*fields, "done_at"]
        elif done is False and task.done_at is not None:
            task.done_at, fields = None, [*fields, "done_at"]
        if fields:
            task_change(task=task, fields=fields)
        return Response(TaskSerializer(task).data)


@extend_schema_view(get=extend_schema(responses={200: StageMoveSerializer(many=True), **ABOUT_A_LEAD}))
class LeadStageMoves(_Staff, generics.ListAPIView):
    """A lead's stage history, newest first; POST moves the lead (recorded as your move)."""

    perms = {"GET": ("leads.view_stagemove",), "POST": ("leads.change_lead",)}
    serializer_class = StageMoveSerializer
    pagination_class = Cursor

    def get_queryset(self) -> QuerySet[StageMove]:
        return StageMove.objects.filter(lead=_lead(self.kwargs["public_id"])).select_related("moved_by")

    def paginate_queryset(self, queryset: Any) -> Any:
        self.paginator.ordering = "-occurred_at"  # type: ignore[union-attr]
        return super().paginate_queryset(queryset)

    @extend_schema(
        request=MoveSerializer, responses={201: StageMoveSerializer, 200: StageMoveSerializer, **ABOUT_A_LEAD}
    )
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        lead = _lead(public_id)
        serializer = MoveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        stage: Stage = serializer.validated_data["stage"]
        reason = serializer.validated_data.get("reason") or "through the API"
        moved = leads_stage_move(
            leads=Lead.objects.filter(pk=lead.pk), to_stage=stage, by_id=request.user.pk, reason=reason
        )
        latest = StageMove.objects.filter(lead=lead).order_by("-occurred_at", "-pk").first()
        code = status.HTTP_201_CREATED if moved else status.HTTP_200_OK
        return Response(StageMoveSerializer(latest).data if latest else {}, status=code)


@extend_schema_view(get=extend_schema(responses={200: ScoreEventSerializer(many=True), **ABOUT_A_LEAD}))
class LeadScoreEvents(_Staff, generics.ListAPIView):
    """The lead's score log, newest first, with what each entry is worth now; POST adds a person's adjustment."""

    perms = {"GET": ("leads.view_scoreevent",), "POST": ("leads.add_scoreevent",)}
    serializer_class = ScoreEventSerializer
    pagination_class = Cursor

    def get_queryset(self) -> QuerySet[ScoreEvent]:
        return ScoreEvent.objects.filter(lead=_lead(self.kwargs["public_id"])).select_related("author")

    def paginate_queryset(self, queryset: Any) -> Any:
        self.paginator.ordering = "-occurred_at"  # type: ignore[union-attr]
        return super().paginate_queryset(queryset)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": timezone.now(), "half_life": scoring.half_life_days()}

    @extend_schema(request=AdjustSerializer, responses={201: ScoreEventSerializer, **ABOUT_A_LEAD})
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        lead = _lead(public_id)
        serializer = AdjustSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = f"manual:{uuid.uuid4()}"
        scoring.score_events_record(
            entries=[
                scoring.ScoreEntry(
                    lead_id=lead.pk,
                    points=serializer.validated_data["points"],
                    reason=serializer.validated_data["reason"],
                    occurred_at=timezone.now(),
                    key=key,
                    author_id=request.user.pk,
                )
            ]
        )
        entry = ScoreEvent.objects.get(key=key)
        return Response(ScoreEventSerializer(entry, context=self.get_serializer_context()).data, status=201)
