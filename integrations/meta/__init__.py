"""Meta: Custom Audiences (``audiences``), the Conversions API (``conversions``) and ad insights (``insights``), through
the official ``facebook-business`` SDK."""
