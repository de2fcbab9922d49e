"""The audiences app in the admin: audiences, their destinations and runs, the connections they go through, and the
server-side conversions sent through the same connections."""

from audiences.admin import audiences, connections, conversions, destinations  # noqa: F401  (registers the admins)
