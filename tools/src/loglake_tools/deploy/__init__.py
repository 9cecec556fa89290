"""``loglake deploy`` and ``loglake destroy``: the whole pipeline on AWS with one command.

The stack is ``deploy/loglake.yaml``. A Lambda function and Glue jobs need their code in S3
before CloudFormation creates them, and the code goes into the lake bucket that the same
stack owns, so a first deployment runs in two phases:

1. bootstrap: the stack with ``ArtifactsPrefix=""`` creates only what needs no code (bucket,
   bucket policy, control table, topic, roles, failure rule and alarm);
2. the artifacts are built, uploaded under ``<prefix>/_artifacts/<content hash>/`` and the
   stack is updated with ``ArtifactsPrefix`` pointing there, which creates the jobs, the
   Lambda function, its rules and alarms.

Later deployments skip phase 1. Artifact keys are content-addressed, so a code change is a
parameter change that CloudFormation sees, and an unchanged build changes nothing. A bucket
that already exists (e.g. kept by ``loglake destroy``) is used as it is
(``CreateLakeBucket=false``). Every change goes through a change set that is printed first;
``--dry-run`` stops there.

Example:
    $ loglake deploy --stack-name loglake-prod --bucket my-lake --kafka-bootstrap b-1.msk:9092
"""

from __future__ import annotations

from loglake_tools.deploy.artifacts import (
    INGEST_GLUE_SCRIPT,
    INGEST_OPTIONS,
    LAMBDA_ZIP_NAME,
    Artifacts,
    build_artifacts,
)
from loglake_tools.deploy.cli import deploy, destroy
from loglake_tools.deploy.config import (
    DEFAULT_TEMPLATE,
    MAX_TEMPLATE_BODY,
    DeployConfig,
    DestroyConfig,
    template_parameters,
)
from loglake_tools.deploy.errors import DeployError
from loglake_tools.deploy.stack import apply_change_set, deploy_stack, describe_stack
from loglake_tools.deploy.teardown import delete_objects, destroy_stack

__all__ = [
    "DEFAULT_TEMPLATE",
    "INGEST_GLUE_SCRIPT",
    "INGEST_OPTIONS",
    "LAMBDA_ZIP_NAME",
    "MAX_TEMPLATE_BODY",
    "Artifacts",
    "DeployConfig",
    "DeployError",
    "DestroyConfig",
    "apply_change_set",
    "build_artifacts",
    "delete_objects",
    "deploy",
    "deploy_stack",
    "describe_stack",
    "destroy",
    "destroy_stack",
    "template_parameters",
]
