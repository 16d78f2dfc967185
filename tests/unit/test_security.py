"""Security by inspection of our own code (milliseconds): YAML is only ever safe-loaded, nothing
read from storage is unpickled, nothing is eval'd or exec'd, no shell=True; shipped configs keep
the Ray dashboard inside the cluster. (Executed code goes through the sandbox: test_sandbox.py;
credentials never reach run files: test_e2e_search.py.)"""

import ast
import glob
import os

import yaml

from tests.helpers import REPO

SOURCES = sorted(glob.glob(os.path.join(REPO, "codemix_search", "**", "*.py"), recursive=True))


def _calls(path):
    tree = ast.parse(open(path, encoding="utf-8").read(), filename=path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = (
                f"{f.value.id}.{f.attr}"
                if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                else getattr(f, "id", getattr(f, "attr", ""))
            )
            yield node, name


def test_the_scan_sees_the_package():
    assert len(SOURCES) > 30


def test_yaml_is_only_safe_loaded():
    bad = []
    for path in SOURCES:
        for node, name in _calls(path):
            if name in ("yaml.load", "yaml.unsafe_load", "yaml.full_load", "yaml.load_all"):
                bad.append(f"{path}:{node.lineno} {name}")
        text = open(path, encoding="utf-8").read()
        for loader in ("yaml.Loader", "yaml.UnsafeLoader", "yaml.FullLoader"):
            if loader in text:
                bad.append(f"{path}: {loader}")
    assert bad == []


def test_no_pickle_eval_exec_or_shell():
    bad = []
    for path in SOURCES:
        for node, name in _calls(path):
            if name in ("eval", "exec", "compile") or name.endswith(
                ("pickle.load", "pickle.loads", "marshal.loads", "dill.load", "dill.loads")
            ):
                bad.append(f"{path}:{node.lineno} {name}")
            for kw in node.keywords:
                if (
                    kw.arg == "shell"
                    and isinstance(kw.value, ast.Constant)
                    and kw.value.value is True
                ):
                    bad.append(f"{path}:{node.lineno} shell=True")
        tree = ast.parse(open(path, encoding="utf-8").read())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any(m.split(".")[0] in ("pickle", "dill", "marshal", "shelve") for m in mods):
                    bad.append(f"{path}:{node.lineno} imports {mods}")
    assert bad == []


def test_shipped_configs_keep_dashboards_inside_the_cluster():
    for path in glob.glob(os.path.join(REPO, "cluster", "*.yaml")):
        text = open(path).read()
        docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
        if path.endswith("-values.yaml"):  # Helm values: its services stay ClusterIP
            assert all(v == "ClusterIP" for v in _find(docs[0], "type")), path
            for word in ("NodePort", "LoadBalancer", "0.0.0.0"):
                assert word not in text, (path, word)
        elif any("kind" in d for d in docs):
            # Kubernetes: the head pod listens on its pod IP (0.0.0.0 inside the pod) but is
            # only reachable through ClusterIP services; nothing exposes it outside.
            for d in docs:
                assert all(v == "ClusterIP" for v in _find(d, "serviceType")), path
            for word in ("NodePort", "LoadBalancer", "kind: Ingress"):
                assert word not in text, (path, word)
        else:  # launcher configs: the dashboard binds to the head's loopback (ray dashboard tunnels)
            assert "0.0.0.0" not in text and "--dashboard-host=127.0.0.1" in text, path
    for path in glob.glob(os.path.join(REPO, "dashboards", "*.json")):
        text = open(path).read()
        assert "0.0.0.0" not in text and "http://" not in text.replace("http://localhost", ""), path


def _find(node, key):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from _find(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _find(v, key)
