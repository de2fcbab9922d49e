"""Importing an existing list: a CSV file read as a stream, its columns mapped onto a lead's fields, every row checked,
and the good ones written a chunk at a time as the capture inbox writes opt-ins.

An import is made as a draft (``import_create``: the file is stored privately and counted, its columns named and a
mapping guessed), previewed and mapped (``import_preview``, ``import_map``), then queued (``import_start``) and run by
a worker (``import_run``), which commits each chunk with the import's progress, so a run killed halfway goes on where
it stopped and writes nothing twice. Per row: the address is normalized and deduplicated into the lead that has it
(whose empty fields are filled in, never replaced); an address that asked to be forgotten is refused; the marketer's
statement of the list's consent basis becomes a consent row per purpose with the import as its source; the lead gets
an ``imported`` event (its timeline, the pipeline's rules) and the import's tag, and is marked changed so audiences
take it in at their next evaluation. A row that cannot be imported is recorded by line number and field; the file
keeps its values (problem messages never copy them), and ``problems_csv`` lists each such row beside its reasons.
"""

from leads.imports.reading import (
    FIELDS,
    MAX_BYTES,
    MAX_ROWS,
    ImportInvalid,
    Row,
    mapping_guess,
    mapping_problems,
    row_clean,
)
from leads.imports.writing import (
    CHUNK,
    KEEP_DAYS,
    Basis,
    basis_problems,
    import_create,
    import_map,
    import_preview,
    import_run,
    import_start,
    imports_tidy,
    problems_csv,
)

__all__ = [
    "CHUNK",
    "FIELDS",
    "KEEP_DAYS",
    "MAX_BYTES",
    "MAX_ROWS",
    "Basis",
    "ImportInvalid",
    "Row",
    "basis_problems",
    "import_create",
    "import_map",
    "import_preview",
    "import_run",
    "import_start",
    "imports_tidy",
    "mapping_guess",
    "mapping_problems",
    "problems_csv",
    "row_clean",
]
