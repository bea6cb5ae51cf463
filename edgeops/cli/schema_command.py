"""``edgeops schema WHICH``: the JSON Schema of a file edgeops writes or reads."""

from __future__ import annotations

import argparse
import json
import sys

from pydantic import BaseModel

from edgeops.models import DeviceProfile, Manifest, Results


def cmd_schema(args: argparse.Namespace) -> int:
    schemas: dict[str, type[BaseModel]] = {
        "manifest": Manifest,
        "results": Results,
        "profile": DeviceProfile,
    }
    if args.which == "config":
        from edgeops.pipeline.config import config_schema

        schema = config_schema()
    elif args.which == "manifest":
        from edgeops.pipeline.bundle import manifest_schema

        schema = manifest_schema()
    else:
        schema = schemas[args.which].model_json_schema()
    # A JSON Schema is printed as it is: a schema_version key would make it invalid.
    sys.stdout.write(json.dumps(schema, indent=2) + "\n")
    return 0
