"""Capture: how opt-ins and event beacons enter Ladder through the API.

- ``entries``: what both paths build alike, written once (limits, idempotency keys, the consents a step asks for,
  the visit, the e-mail throttle's identity, the next page);
- ``throttles``: fixed-window limits per client address and per e-mail address, shared by both paths;
- ``fast``: the fast path, which answers what is certainly valid with one Redis round trip into the capture inbox
  (``leads.inbox``), and hands anything else to the full path (``funnels.api``), which explains every error;
- ``flush``: writing what the inbox holds, and the lead magnets its opt-ins are owed.
"""
