"""`make templates`: each packaged stage's SAM template as CloudFormation deploys it, offline.

`aws cloudformation deploy` runs the SAM transform (AWS::Serverless-2016-10-31) on AWS's side;
cfn-lint no longer runs it, so errors that only exist after it (a circular dependency between
the function, its role and its log group, say) would pass a lint of sam.json. This runs the
same transform with aws-sam-translator, with no AWS call: the template names no managed
policy, the region is a placeholder (it only picks the ARN partition), and the local zips (the
function's CodeUri, its layer's ContentUri) become the S3 URIs `aws cloudformation package`
would put there.

    python -m devtools.transform out/dev/sam.json out/dev/transformed.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

PLACEHOLDER_BUCKET = "placeholder-bucket"  # the S3 bucket `make deploy` is given
# The properties naming a local zip that `aws cloudformation package` uploads: the function's
# code, and the layer's (`automatic_layer`)
_LOCAL_CODE = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


class _NoManagedPolicies:
    """The translator asks for managed policy ARNs only for a function's `Policies`; chalice
    gives the function a `Role` instead. Asked anyway, this fails loudly rather than call IAM."""

    def load(self) -> dict[str, str]:
        raise RuntimeError("the template names a managed policy: the offline transform cannot resolve it")


def transform(template: dict[str, Any], parameter_values: dict[str, Any] | None = None) -> dict[str, Any]:
    """`template` after the SAM transform, as CloudFormation would deploy it with these
    Parameter values (the defaults for the rest)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # placeholder, as for packaging
    from samtranslator.translator.transform import transform as sam_transform

    template = json.loads(json.dumps(template))  # the caller's copy stays as it was
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        key = _LOCAL_CODE.get(resource["Type"], "")
        code = properties.get(key)
        if isinstance(code, str) and "://" not in code:
            properties[key] = f"s3://{PLACEHOLDER_BUCKET}/{Path(code).name}"
    return sam_transform(template, dict(parameter_values or {}), _NoManagedPolicies())  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    result = transform(json.loads(args.template.read_text()))
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"transformed {args.template} -> {args.output} ({len(result['Resources'])} resources)")


if __name__ == "__main__":
    main()
