from django.urls import path

from pipeline.api import activity, imports, views

urlpatterns = [
    path("leads", views.LeadList.as_view(), name="api-leads"),
    path("leads/import", imports.LeadImportCreate.as_view(), name="api-lead-import"),
    path("leads/imports", imports.LeadImportList.as_view(), name="api-lead-imports"),
    path("leads/imports/<uuid:public_id>", imports.LeadImportDetail.as_view(), name="api-lead-import-detail"),
    path("leads/imports/<uuid:public_id>/start", imports.LeadImportStart.as_view(), name="api-lead-import-start"),
    path(
        "leads/imports/<uuid:public_id>/problems",
        imports.LeadImportProblems.as_view(),
        name="api-lead-import-problems",
    ),
    path("leads/<uuid:public_id>", views.LeadDetail.as_view(), name="api-lead"),
    path("leads/<uuid:public_id>/notes", activity.LeadNotes.as_view(), name="api-lead-notes"),
    path("leads/<uuid:public_id>/tasks", activity.LeadTasks.as_view(), name="api-lead-tasks"),
    path("leads/<uuid:public_id>/stage-moves", activity.LeadStageMoves.as_view(), name="api-lead-stage-moves"),
    path("leads/<uuid:public_id>/score-events", activity.LeadScoreEvents.as_view(), name="api-lead-score-events"),
    path("tasks/<int:pk>", activity.TaskDetail.as_view(), name="api-task"),
    path("stages", views.Stages.as_view(), name="api-stages"),
    path("owners", views.Owners.as_view(), name="api-owners"),
]
