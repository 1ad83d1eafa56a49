"""The fields of KubeRay's v1 CRDs (RayService, RayJob) that nbmf's manifests use, with their types.

Transcribed from KubeRay's ``ray-operator/config/crd/bases/ray.io_rayservices.yaml`` and
``ray.io_rayjobs.yaml`` (v1.x, ``openAPIV3Schema``), and the Kubernetes PodSpec fields they embed. The
CRDs are structural: the API server drops fields it does not know and refuses wrong types, so a typo
in a manifest is silently lost. ``check`` walks a manifest and fails on any field missing here, any
value of the wrong type, and any required field left out. Maps with free keys (``rayStartParams``,
``resources.limits``) give the type of their values.
"""

from __future__ import annotations

from typing import Any

STR, INT, BOOL = "string", "integer", "boolean"
QUANTITY = "int-or-string"  # Kubernetes resource quantities: 4, "4", "16Gi"


class MapOf:
    def __init__(self, value: Any) -> None:
        self.value = value


class Req:
    """A field the CRD marks required."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema


ENV_VAR = {
    "name": Req(STR),
    "value": STR,
    "valueFrom": {
        "secretKeyRef": {"name": STR, "key": Req(STR), "optional": BOOL},
        "configMapKeyRef": {"name": STR, "key": Req(STR), "optional": BOOL},
        "fieldRef": {"fieldPath": Req(STR), "apiVersion": STR},
    },
}
CONTAINER = {
    "name": Req(STR),
    "image": STR,
    "imagePullPolicy": STR,
    "command": [STR],
    "args": [STR],
    "env": [ENV_VAR],
    "ports": [{"containerPort": Req(INT), "name": STR, "protocol": STR}],
    "resources": {"limits": MapOf(QUANTITY), "requests": MapOf(QUANTITY)},
    "volumeMounts": [{"name": Req(STR), "mountPath": Req(STR), "readOnly": BOOL, "subPath": STR}],
}
VOLUME = {
    "name": Req(STR),
    "hostPath": {"path": Req(STR), "type": STR},
    "emptyDir": {"medium": STR, "sizeLimit": QUANTITY},
    "secret": {"secretName": STR, "optional": BOOL},
}
POD_TEMPLATE = {
    "metadata": {"labels": MapOf(STR), "annotations": MapOf(STR)},
    "spec": {
        "containers": Req([CONTAINER]),
        "volumes": [VOLUME],
        "nodeSelector": MapOf(STR),
        "serviceAccountName": STR,
    },
}
HEAD_GROUP = {
    "rayStartParams": MapOf(STR),
    "template": Req(POD_TEMPLATE),
    "serviceType": STR,
    "enableIngress": BOOL,
}
WORKER_GROUP = {
    "groupName": Req(STR),
    "replicas": INT,
    "minReplicas": Req(INT),
    "maxReplicas": Req(INT),
    "idleTimeoutSeconds": INT,
    "rayStartParams": MapOf(STR),
    "template": Req(POD_TEMPLATE),
}
RAY_CLUSTER_SPEC = {
    "rayVersion": STR,
    "enableInTreeAutoscaling": BOOL,
    "autoscalerOptions": {"idleTimeoutSeconds": INT, "upscalingMode": STR},
    "headGroupSpec": Req(HEAD_GROUP),
    "workerGroupSpecs": [WORKER_GROUP],
}
METADATA = {"name": STR, "namespace": STR, "labels": MapOf(STR), "annotations": MapOf(STR)}
RAY_SERVICE = {
    "apiVersion": Req(STR),
    "kind": Req(STR),
    "metadata": METADATA,
    "spec": {
        "serveConfigV2": STR,
        "rayClusterConfig": Req(RAY_CLUSTER_SPEC),
        "excludeHeadPodFromServeSvc": BOOL,
        "upgradeStrategy": {"type": STR},
    },
}
RAY_JOB = {
    "apiVersion": Req(STR),
    "kind": Req(STR),
    "metadata": METADATA,
    "spec": {
        "entrypoint": STR,
        "runtimeEnvYAML": STR,
        "shutdownAfterJobFinishes": BOOL,
        "ttlSecondsAfterFinished": INT,
        "activeDeadlineSeconds": INT,
        "backoffLimit": INT,
        "submissionMode": STR,
        "rayClusterSpec": RAY_CLUSTER_SPEC,
    },
}
SUBMISSION_MODES = {"K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"}


def _type_ok(kind: str, value: Any) -> bool:
    if kind == STR:
        return isinstance(value, str)
    if kind == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == QUANTITY:
        return isinstance(value, (str, int)) and not isinstance(value, bool)
    raise ValueError(kind)


def check(value: Any, schema: Any, path: str = "") -> list[str]:
    """Problems of ``value`` against ``schema`` (empty: it fits)."""
    if isinstance(schema, Req):
        schema = schema.schema
    if isinstance(schema, str):
        return [] if _type_ok(schema, value) else [f"{path}: {value!r} is not a {schema}"]
    if isinstance(schema, MapOf):
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        return [p for k, v in value.items() for p in check(v, schema.value, f"{path}.{k}")]
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        return [p for i, v in enumerate(value) for p in check(v, schema[0], f"{path}[{i}]")]
    if not isinstance(value, dict):
        return [f"{path}: not an object"]
    problems = [f"{path}.{k}: no such field in the CRD" for k in value if k not in schema]
    problems += [f"{path}.{k}: required" for k, s in schema.items() if isinstance(s, Req) and k not in value]
    problems += [p for k, v in value.items() if k in schema for p in check(v, schema[k], f"{path}.{k}")]
    return problems
