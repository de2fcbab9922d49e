"""Google: Customer Match through the Data Manager API (``datamanager``) or the Google Ads API (``ads``), conversions
through the Data Manager API (``conversions``) and spend through the Google Ads API (``spend``), with Google's official
clients."""
