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


MONITORING_VARS = ("RAY_GRAFANA_HOST", "RAY_PROMETHEUS_HOST", "RAY_GRAFANA_IFRAME_HOST")


@pytest.mark.parametrize("name", ["aws-gpu.yaml", "gcp-gpu.yaml"])
def test_launcher_heads_run_prometheus_and_grafana_for_the_ray_dashboard(name):
    cfg = load(name)
    start = next(c for c in cfg["head_start_ray_commands"] if "ray start --head" in c)
    env = dict(w.split("=", 1) for w in start.split() if w.startswith("RAY_"))
    # Both services on the head's loopback; the browser comes through the SSH tunnel.
    assert env == {
        "RAY_PROMETHEUS_HOST": "http://127.0.0.1:9090",
        "RAY_GRAFANA_HOST": "http://127.0.0.1:3000",
        "RAY_GRAFANA_IFRAME_HOST": "http://127.0.0.1:3000",
    }
    after = cfg["head_start_ray_commands"][cfg["head_start_ray_commands"].index(start) + 1 :]
    assert "ray metrics launch-prometheus" in after
    grafana = next(c for c in after if "grafana-server" in c)
    assert "/tmp/ray/session_latest/metrics/grafana/grafana.ini" in grafana
    assert any("http_addr = 127.0.0.1" in c for c in after)  # Grafana not on the network
    assert cfg["file_mounts"]["~/codemix_dashboards"] == "./dashboards"
    assert os.path.exists(os.path.join(REPO, "dashboards", "codemix_search.json"))
    assert any("apt-get install" in c and "grafana" in c for c in cfg["head_setup_commands"])


def _head_env(doc):
    spec = doc["spec"] if doc["kind"] == "RayCluster" else doc["spec"]["rayClusterSpec"]
    head = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in head.get("env", [])}, spec


@pytest.mark.parametrize("manifest", ["kuberay-raycluster.yaml", "kuberay-rayjob.yaml"])
def test_kuberay_heads_point_the_ray_dashboard_at_the_monitoring_stack(manifest):
    env, spec = _head_env(load(manifest))
    values = load("kube-prometheus-stack-values.yaml")
    # Service names of kube-prometheus-stack release "prometheus" in prometheus-system.
    assert env["RAY_GRAFANA_HOST"] == "http://prometheus-grafana.prometheus-system.svc:80"
    assert env["RAY_PROMETHEUS_HOST"].startswith(
        "http://prometheus-kube-prometheus-prometheus.prometheus-system.svc:"
    )
    assert env["RAY_GRAFANA_IFRAME_HOST"] == "http://127.0.0.1:3000"  # via port-forward
    ini = values["grafana"]["grafana.ini"]
    assert ini["security"]["allow_embedding"] is True and ini["auth.anonymous"]["enabled"]
    assert values["grafana"]["service"]["type"] == "ClusterIP"
    # Every Ray pod exposes the port the PodMonitors scrape, under the name they use.
    monitors = [d for d in _load_all("kuberay-monitoring.yaml") if d["kind"] == "PodMonitor"]
    ports = {m["spec"]["selector"]["matchLabels"]["ray.io/node-type"]: m for m in monitors}
    assert set(ports) == {"head", "worker"}
    pods = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    kinds = ["head"] + ["worker"] * len(spec["workerGroupSpecs"])
    for group, kind in zip(pods, kinds, strict=True):
        names = {p["name"]: p["containerPort"] for c in group["template"]["spec"]["containers"]
                 for p in c.get("ports", [])}  # fmt: skip
        wanted = ports[kind]["spec"]["podMetricsEndpoints"][0]["port"]
        assert names.get(wanted) == int(group["rayStartParams"]["metrics-export-port"])
        assert (
            load(manifest)["metadata"]["namespace"]
            in (ports[kind]["spec"]["namespaceSelector"]["matchNames"])
        )
        assert ports[kind]["metadata"]["labels"]["release"] == "prometheus"


def _load_all(name):
    with open(os.path.join(CLUSTER, name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]
