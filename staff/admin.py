from django.contrib import admin

admin.site.site_header = "Ladder"
admin.site.site_title = "Ladder admin"
admin.site.index_title = "Your value ladder"
