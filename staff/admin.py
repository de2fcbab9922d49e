from django.contrib import admin

admin.site.site_header = "Ladder"
admin.site.site_title = "Ladder admin"
admin.site.index_title = "Your value ladder"
# The page's own width goes to the lists: on a 1280-pixel laptop the navigation sidebar (which repeats the home page's
# menu) would leave a list about 630 pixels. Each page links home and back through its breadcrumbs.
admin.site.enable_nav_sidebar = False
