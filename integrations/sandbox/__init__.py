"""The sandbox destination (``upload``): checks every row as a platform would and keeps nothing, for previews."""
