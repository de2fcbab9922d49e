from django.urls import path

from pipeline.api import views

urlpatterns = [
    path("leads", views.LeadList.as_view(), name="api-leads"),
    path("leads/<uuid:public_id>", views.LeadDetail.as_view(), name="api-lead"),
    path("leads/<uuid:public_id>/notes", views.LeadNotes.as_view(), name="api-lead-notes"),
    path("leads/<uuid:public_id>/tasks", views.LeadTasks.as_view(), name="api-lead-tasks"),
    path("leads/<uuid:public_id>/stage-moves", views.LeadStageMoves.as_view(), name="api-lead-stage-moves"),
    path("leads/<uuid:public_id>/score-events", views.LeadScoreEvents.as_view(), name="api-lead-score-events"),
    path("tasks/<int:pk>", views.TaskDetail.as_view(), name="api-task"),
    path("stages", views.Stages.as_view(), name="api-stages"),
    path("owners", views.Owners.as_view(), name="api-owners"),
]
