"""cluster/: the launcher config passes Ray's own schema; the KubeRay manifests pass KubeRay's CRD
schemas and Ray derives a valid autoscaling config from them. Validated, not launched: no cloud
or Kubernetes is reachable from here."""

import copy
import os

import pytest
import yaml

from tests.helpers import REPO

CLUSTER = os.path.join(REPO, "cluster")
CRDS = os.path.join(os.path.dirname(REPO), "shared", "schemas", "kuberay")


def load(name):
    with open(os.path.join(CLUSTER, name)) as f:
        return yaml.safe_load(f)


@pytest.mark.parametrize("name", ["aws-gpu.yaml", "gcp-gpu.yaml"])
def test_launcher_configs_pass_rays_schema(name):
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = load(name)
    cfg = prepare_config(copy.deepcopy(raw))
    validate_config(cfg)
    head = cfg["available_node_types"][cfg["head_node_type"]]
    assert head["resources"]["CPU"] == 0 and head["resources"]["trial_driver"] >= 1
    gpu = cfg["available_node_types"]["gpu_worker"]
    assert gpu["min_workers"] == 0 and gpu["max_workers"] >= 1
    assert cfg["idle_timeout_minutes"] > 0
    text = open(os.path.join(CLUSTER, name)).read().lower()
    for secret in ("aws_secret", "secret_access_key", "private_key", "credentials"):
        assert secret not in text  # an instance role / service account, never keys
    assert "--dashboard-host=127.0.0.1" in text


def _crd_schema(name):
    path = os.path.join(CRDS, name)
    if not os.path.exists(path):
        pytest.skip(f"{path} absent: KubeRay's CRDs ship beside the project, not in a clone")
    with open(path) as f:
        crd = yaml.safe_load(f)
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")["schema"][
        "openAPIV3Schema"
    ]

    def clean(node):
        if isinstance(node, dict):
            return {k: clean(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    return clean(schema)


@pytest.mark.parametrize(
    "manifest,crd",
    [
        ("kuberay-raycluster.yaml", "ray.io_rayclusters.yaml"),
        ("kuberay-rayjob.yaml", "ray.io_rayjobs.yaml"),
    ],
)
def test_kuberay_manifests_pass_the_crd_schemas(manifest, crd):
    import jsonschema

    jsonschema.Draft7Validator(_crd_schema(crd)).validate(load(manifest))


@pytest.mark.parametrize("manifest", ["kuberay-raycluster.yaml", "kuberay-rayjob.yaml"])
def test_ray_derives_a_valid_autoscaling_config_from_the_manifests(manifest):
    from ray.autoscaler._private.kuberay.autoscaling_config import (
        _derive_autoscaling_config_from_ray_cr,
    )
    from ray.autoscaler._private.util import validate_config

    doc = load(manifest)
    cr = (
        doc
        if doc["kind"] == "RayCluster"
        else {"metadata": doc["metadata"], "spec": doc["spec"]["rayClusterSpec"]}
    )
    cfg = _derive_autoscaling_config_from_ray_cr(cr)
    validate_config(cfg)
    gpu = cfg["available_node_types"]["gpu"]
    assert gpu["resources"]["GPU"] >= 1 and gpu["min_workers"] == 0 and gpu["max_workers"] >= 1
    head = cfg["available_node_types"]["headgroup"]
    assert head["resources"].get("CPU", 0) == 0 and head["resources"]["trial_driver"] >= 1
    spec = doc["spec"] if doc["kind"] == "RayCluster" else doc["spec"]["rayClusterSpec"]
    assert spec["headGroupSpec"]["serviceType"] == "ClusterIP"  # dashboards stay internal
