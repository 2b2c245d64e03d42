"""The files design, ported from Goa's `examples/files/design`, plus a folder.

Goa's serves its generated OpenAPI documents (v2 and v3, JSON and YAML); Bastion writes
one, OpenAPI 3.1 (`bastion gen openapi examples.files.design:api -o ...`), served here in
both encodings. `/static/{*path}` serves the `public/` folder next to this file. The
design declares no `API(...)`: it gets a default one, named after its service.
"""

from __future__ import annotations

from bastion.dsl import *

with Service("openapi"):
    Files("/openapi.json", "gen/http/openapi.json")
    Files("/openapi.yaml", "gen/http/openapi.yaml")
    with Files("/static/{*path}", "public/"):
        Description("The example's web page and its style sheet.")

_design = current_design()
if _design is None:  # pragma: no cover - the declarations above made one
    raise RuntimeError("the design declares nothing")
api = _design
