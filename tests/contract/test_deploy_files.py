"""Deployment files: compose stack, Prometheus/Alertmanager configs and Helm chart reference what exists.

The compose file and the chart are parsed (and the chart rendered with Helm's own engine), so new
mounts, files and objects are checked without a hand-kept list.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import helm_python as helm
import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
CHART = DEPLOY / "helm" / "sesmon"
RULES = DEPLOY / "prometheus" / "sesmon-rules.yml"
DEMO_RULES = DEPLOY / "prometheus" / "sesmon-demo-rules.yml"
KUBERNETES_VERSION = "1.30.0"


# --- docker compose --------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """YAML as compose reads it, except that a key given twice is an error, not a silent override."""


def _no_duplicate_keys(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicate_keys)


def _strict(text: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(text, Loader=_StrictLoader)
    return data


def _compose() -> dict[str, Any]:
    return _strict(COMPOSE.read_text(encoding="utf-8"))


def _real_account_compose(tmp_path: Path) -> Path:
    """The file the compose header's real-account instructions produce, made by its own sed command."""
    header = [
        line[1:].strip() for line in COMPOSE.read_text(encoding="utf-8").splitlines() if line.startswith("#")
    ]
    first = next(i for i, line in enumerate(header) if line.startswith("sed "))
    command = f"{header[first].removesuffix(chr(92)).strip()} {header[first + 1]}"
    assert command.endswith("> deploy/docker-compose.real.yml"), command
    out = tmp_path / "docker-compose.real.yml"
    result = subprocess.run(
        ["bash", "-c", command.replace("> deploy/docker-compose.real.yml", f"> {out}")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return out


def test_duplicate_keys_are_refused_by_the_compose_parser() -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key 'volumes'"):
        _strict("services:\n  sesmon:\n    volumes: [a:/a]\n    volumes: [b:/b]\n")


def test_real_account_instructions_produce_a_valid_compose_file(tmp_path: Path) -> None:
    real_path = _real_account_compose(tmp_path)
    text = real_path.read_text(encoding="utf-8")
    assert not [line for line in text.splitlines() if line.endswith("# [demo]")]
    real = _strict(text)
    demo = _compose()
    assert set(real["services"]) == set(demo["services"])
    sesmon = real["services"]["sesmon"]
    assert sesmon["command"] == ["run"]
    assert sesmon["build"]["target"] == "production"
    assert sesmon["environment"]["AWS_REGION"]
    # The config lands where the production image's SESMON_CONFIG points, state stays on its volume.
    volumes = [str(v) for v in sesmon["volumes"]]
    assert "./sesmon.yaml:/etc/sesmon/sesmon.yaml:ro" in volumes
    assert any(v.endswith(":/var/lib/sesmon") for v in volumes)
    assert "SESMON_CONFIG=/etc/sesmon/sesmon.yaml" in (ROOT / "Dockerfile").read_text(encoding="utf-8")
    # Prometheus loads the rules generated from that config, at the path its config names.
    prometheus = real["services"]["prometheus"]
    assert "./prometheus/sesmon-rules.yml:/etc/prometheus/sesmon-rules.yml:ro" in prometheus["volumes"]
    assert (
        "./prometheus/sesmon-demo-rules.yml:/etc/prometheus/sesmon-rules.yml:ro"
        in demo["services"]["prometheus"]["volumes"]
    )


def test_compose_build_targets_exist_in_the_dockerfile(tmp_path: Path) -> None:
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE))
    demo = _compose()["services"]["sesmon"]["build"]["target"]
    real = _strict(_real_account_compose(tmp_path).read_text())["services"]["sesmon"]["build"]["target"]
    assert (demo, real) == ("demo", "production")
    assert {demo, real} <= stages


def _bind_mounts(service: dict[str, Any]) -> list[tuple[Path, PurePosixPath]]:
    """(host path, container path) of every bind mount of a service, short or long syntax."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            target = rest.split(":")[0]
            if not source.startswith((".", "/", "~")):
                continue  # a named volume
        else:
            if volume.get("type") != "bind":
                continue
            source, target = volume["source"], volume["target"]
        mounts.append(((COMPOSE.parent / source).resolve(), PurePosixPath(target)))
    return mounts


def _host_path(service: dict[str, Any], container_path: str) -> Path | None:
    """Where a path inside a service's container comes from on the host, if it is bind-mounted."""
    wanted = PurePosixPath(container_path)
    for host, target in _bind_mounts(service):
        if wanted == target or target in wanted.parents:
            return host / wanted.relative_to(target)
    return None


def _flag(service: dict[str, Any], name: str) -> str:
    (value,) = [str(arg).split("=", 1)[1] for arg in service["command"] if str(arg).startswith(f"--{name}=")]
    return value


def test_every_file_the_compose_file_references_exists() -> None:
    compose = _compose()
    checked = 0
    for name, service in compose["services"].items():
        build = service.get("build")
        if build is not None:
            context = COMPOSE.parent / (build if isinstance(build, str) else build["context"])
            assert context.is_dir(), f"{name}: build context {context} missing"
            dockerfile = context / (
                build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
            )
            assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
            checked += 1
        for env_file in service.get("env_file", []):
            assert (COMPOSE.parent / env_file).is_file(), f"{name}: env_file {env_file} missing"
            checked += 1
        for host, target in _bind_mounts(service):
            assert host.exists(), f"{name}: bind mount source {host} (for {target}) missing"
            checked += 1
        # Paths the service is told about (e.g. Grafana's home dashboard) must come from a mounted file.
        environment = service.get("environment", {})
        values = (
            environment.values()
            if isinstance(environment, dict)
            else [e.partition("=")[2] for e in environment]
        )
        for value in values:
            mounted = _host_path(service, str(value)) if str(value).startswith("/") else None
            if mounted is not None:
                assert mounted.exists(), f"{name}: {value} comes from {mounted}, which is missing"
                checked += 1
        for volume in service.get("volumes", []):
            if isinstance(volume, str) and not volume.startswith((".", "/", "~")):
                assert volume.split(":")[0] in compose["volumes"], f"{name}: undeclared volume {volume}"
    assert checked >= 8


def test_compose_images_are_pinned_and_sesmon_runs_the_demo_read_only() -> None:
    services = _compose()["services"]
    assert {n for n, s in services.items() if "profiles" not in s} == {
        "sesmon",
        "prometheus",
        "alertmanager",
        "grafana",
    }
    assert {n for n, s in services.items() if s.get("profiles") == ["fleet"]} == {"sesmon-fleet", "postgres"}
    for name, service in services.items():
        image = service["image"]
        assert ":" in image, name
        assert not image.endswith(":latest"), name
    sesmon = services["sesmon"]
    assert sesmon["command"] == ["demo", "--listen", "0.0.0.0:9469"]
    assert sesmon["read_only"] is True
    assert "/tmp" in sesmon["tmpfs"]
    assert any(str(v).endswith(":/var/lib/sesmon") for v in sesmon["volumes"])


@pytest.mark.parametrize("stack", ["demo", "real"])
def test_prometheus_config_and_rules_inside_the_container_come_from_existing_files(
    stack: str, tmp_path: Path
) -> None:
    compose = _compose() if stack == "demo" else _strict(_real_account_compose(tmp_path).read_text())
    prometheus = compose["services"]["prometheus"]
    config_in_container = _flag(prometheus, "config.file")
    config = _host_path(prometheus, config_in_container)
    assert config == (DEPLOY / "prometheus" / "prometheus.yml").resolve()
    parsed = yaml.safe_load(config.read_text(encoding="utf-8"))
    for rule_file in parsed["rule_files"]:
        # Prometheus resolves rule files relative to its config file.
        in_container = PurePosixPath(config_in_container).parent / rule_file
        host = _host_path(prometheus, str(in_container))
        assert host is not None, f"rule file {in_container} is not mounted"
        assert host == (DEMO_RULES if stack == "demo" else RULES).resolve()


def test_scrape_and_alerting_targets_are_compose_services() -> None:
    services = _compose()["services"]
    parsed = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    hosts: set[str] = set()
    for job in parsed["scrape_configs"]:
        for static in job.get("static_configs", []):
            hosts.update(t.split(":")[0] for t in static["targets"])
        for dns in job.get("dns_sd_configs", []):
            hosts.update(dns["names"])
    for manager in parsed["alerting"]["alertmanagers"]:
        for static in manager["static_configs"]:
            hosts.update(t.split(":")[0] for t in static["targets"])
    assert "sesmon" in hosts
    assert hosts - {"localhost"} <= set(services)


def test_grafana_provisioning_points_at_mounted_dashboards_and_prometheus() -> None:
    grafana = _compose()["services"]["grafana"]
    providers = _host_path(grafana, "/etc/grafana/provisioning/dashboards")
    datasources = _host_path(grafana, "/etc/grafana/provisioning/datasources")
    assert providers is not None
    assert datasources is not None
    provider_files = sorted(providers.glob("*.yaml"))
    assert provider_files
    for provider_file in provider_files:
        for provider in yaml.safe_load(provider_file.read_text(encoding="utf-8"))["providers"]:
            dashboards = _host_path(grafana, provider["options"]["path"])
            assert dashboards is not None, provider["options"]["path"]
            assert sorted(p.name for p in dashboards.glob("*.json")) == [
                "sesmon-overview.json",
                "sesmon-self.json",
            ]
    services = _compose()["services"]
    for datasource_file in datasources.glob("*.yaml"):
        for datasource in yaml.safe_load(datasource_file.read_text(encoding="utf-8"))["datasources"]:
            host = re.match(r"https?://([^:/]+)", datasource["url"])
            assert host is not None
            assert host.group(1) in services


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=False)


def test_promtool_accepts_the_prometheus_config_syntax(promtool: str) -> None:
    result = _run(promtool, "check", "config", "--syntax-only", str(DEPLOY / "prometheus" / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_prometheus_config_with_its_rule_file(promtool: str) -> None:
    assert RULES.is_file(), f"{RULES} (generated by `sesmon rules --config config.example.yaml`) is missing"
    result = _run(promtool, "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_accepts_the_demo_stacks_rules(promtool: str) -> None:
    result = _run(promtool, "check", "rules", str(DEMO_RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_amtool_accepts_the_alertmanager_config(tmp_path: Path, amtool: str) -> None:
    good = _run(amtool, "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml"))
    assert good.returncode == 0, good.stdout + good.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text("route:\n  receiver: nowhere\nreceivers: []\n")
    assert _run(amtool, "check-config", str(broken)).returncode != 0


# --- Helm chart ------------------------------------------------------------------------------------------

FULL_VALUES: dict[str, Any] = {
    "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "secretEnv": [{"name": "SLACK_WEBHOOK_URL", "secretName": "sesmon-sinks", "key": "slack-webhook-url"}],
    "secretFiles": [
        {"name": "pagerduty", "secretName": "sesmon-pagerduty", "mountPath": "/etc/sesmon/secrets/pagerduty"}
    ],
    "serviceAccount": {
        "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/sesmon"}
    },
}

SAMPLE_RULES = """\
groups:
  - name: sesmon-sample
    rules:
      - alert: SesBounceRateHigh
        expr: sesmon_window_bounce_ratio{window="24h"} > 0.05
        for: 10m
        labels: {severity: warning}
        annotations:
          summary: "Bounce rate {{ $value | humanizePercentage }} on {{ $labels.configuration_set }}"
"""


def _render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values or {}, name="sesmon", namespace="monitoring", is_install=True)
    documents: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        documents.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return documents


def _by_kind(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds: dict[str, dict[str, Any]] = {}
    for document in documents:
        assert document["kind"] not in kinds, f"two {document['kind']} objects"
        kinds[document["kind"]] = document
    return kinds


def test_helm_lint_reports_no_warnings_or_errors() -> None:
    for values in ({}, FULL_VALUES):
        report = helm.lint(CHART, values, strict=True, kube_version=f"v{KUBERNETES_VERSION}")
        serious = [m for m in report["messages"] if m["severity"] >= 2]
        assert serious == [], serious
        assert report["errors"] == []


@pytest.mark.parametrize(
    "values", [{}, FULL_VALUES, {"persistence": {"enabled": False}}], ids=["default", "full", "no-pvc"]
)
def test_rendered_manifests_validate_against_the_kubernetes_schemas(values: dict[str, Any]) -> None:
    documents = _render(values)
    builtin = [d for d in documents if not d["apiVersion"].startswith("monitoring.coreos.com/")]
    assert {d["kind"] for d in builtin} >= {"Deployment", "Service", "ConfigMap", "ServiceAccount"}
    for document in builtin:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_schema_validation_does_reject_a_malformed_deployment() -> None:
    deployment = _by_kind(_render())["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_deployment_is_one_hardened_replica_with_probes_and_persistent_state() -> None:
    kinds = _by_kind(_render())
    deployment = kinds["Deployment"]["spec"]
    assert deployment["replicas"] == 1
    assert deployment["strategy"] == {"type": "Recreate"}
    pod = deployment["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 9469}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/var/lib/sesmon"] == "state"
    assert mounts["/tmp"] == "tmp"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert (
        volumes["state"]["persistentVolumeClaim"]["claimName"]
        == kinds["PersistentVolumeClaim"]["metadata"]["name"]
    )


def test_every_object_the_chart_references_is_rendered_or_supplied_by_the_user() -> None:
    documents = _render(FULL_VALUES)
    kinds = _by_kind(documents)
    names = {(d["kind"], d["metadata"]["name"]) for d in documents}
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    assert ("ServiceAccount", pod["serviceAccountName"]) in names
    secrets_from_values = {s["secretName"] for s in FULL_VALUES["secretEnv"] + FULL_VALUES["secretFiles"]}
    for volume in pod["volumes"]:
        if "configMap" in volume:
            assert ("ConfigMap", volume["configMap"]["name"]) in names
        if "persistentVolumeClaim" in volume:
            assert ("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]) in names
        if "secret" in volume:
            assert volume["secret"]["secretName"] in secrets_from_values
    (container,) = pod["containers"]
    volume_names = {v["name"] for v in pod["volumes"]}
    assert {m["name"] for m in container["volumeMounts"]} <= volume_names
    for env in container["env"]:
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None:
            assert ref["name"] in secrets_from_values
    # The Service selects the pod and the ServiceMonitor scrapes a port the Service has.
    labels = kinds["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert kinds["Service"]["spec"]["selector"].items() <= labels.items()
    service_ports = {p["name"] for p in kinds["Service"]["spec"]["ports"]}
    assert {e["port"] for e in kinds["ServiceMonitor"]["spec"]["endpoints"]} <= service_ports
    assert (
        kinds["ServiceMonitor"]["spec"]["selector"]["matchLabels"].items()
        <= kinds["Service"]["metadata"]["labels"].items()
    )
    # Templates may read chart files; each one read must exist.
    for template in (CHART / "templates").iterdir():
        for path in re.findall(r'\.Files\.Get\s+"([^"]+)"', template.read_text(encoding="utf-8")):
            assert (CHART / path).is_file(), f"{template.name} reads missing {path}"


def test_configmap_holds_a_config_that_sesmon_accepts(tmp_path: Path) -> None:
    kinds = _by_kind(_render())
    config = tmp_path / "sesmon.yaml"
    config.write_text(kinds["ConfigMap"]["data"]["sesmon.yaml"], encoding="utf-8")
    (container,) = kinds["Deployment"]["spec"]["template"]["spec"]["containers"]
    env = {**os.environ, **{e["name"]: e["value"] for e in container["env"] if "value" in e}}
    result = subprocess.run(
        [sys.executable, "-m", "sesmon.cli", "check-config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.endswith(
        "ok: 1 target(s) (prod-us-east-1@us-east-1), windows 1h, 24h + volume, 0 rule(s), 0 sink(s)\n"
    )


def test_secrets_reach_the_pod_as_env_references_and_files_never_inline() -> None:
    documents = _render(FULL_VALUES)
    kinds = _by_kind(documents)
    (container,) = kinds["Deployment"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["SLACK_WEBHOOK_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "sesmon-sinks",
        "key": "slack-webhook-url",
    }
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/etc/sesmon/secrets/pagerduty"]["readOnly"] is True
    assert not any(d["kind"] == "Secret" for d in documents)


def _rule_groups(rules_text: str) -> list[dict[str, Any]]:
    documents = _render({"prometheusRule": {"enabled": True, "rules": rules_text}})
    groups: list[dict[str, Any]] = _by_kind(documents)["PrometheusRule"]["spec"]["groups"]
    return groups


def test_prometheus_rule_carries_the_rule_file_unchanged(tmp_path: Path, promtool: str) -> None:
    groups = _rule_groups(SAMPLE_RULES)
    assert groups == yaml.safe_load(SAMPLE_RULES)["groups"]
    extracted = tmp_path / "from-chart.yml"
    extracted.write_text(yaml.safe_dump({"groups": groups}), encoding="utf-8")
    result = _run(promtool, "check", "rules", str(extracted))
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_rule_from_the_generated_rules_file() -> None:
    if not RULES.is_file():
        pytest.fail(f"{RULES} is missing (generate it with `sesmon rules --config config.example.yaml`)")
    text = RULES.read_text(encoding="utf-8")
    assert _rule_groups(text) == yaml.safe_load(text)["groups"]


def test_prometheus_rule_without_rules_fails_with_a_clear_message() -> None:
    with pytest.raises(helm.HelmError, match=r"sesmon rules --config FILE"):
        _render({"prometheusRule": {"enabled": True}})
    with pytest.raises(helm.HelmError, match="not a Prometheus rule file"):
        _render({"prometheusRule": {"enabled": True, "rules": "- just\n- a list\n"}})


def test_values_schema_rejects_a_misspelt_key() -> None:
    with pytest.raises(helm.HelmError, match="persistance"):
        _render({"persistance": {"enabled": False}})


def test_chart_app_version_is_the_package_version() -> None:
    # The chart is versioned on its own, but its appVersion names the sesmon release it deploys.
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == version


# --- a fleet on PostgreSQL (values-fleet.yaml) -----------------------------------------------------------


def _fleet_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART / "values-fleet.yaml").read_text(encoding="utf-8"))
    return values


def test_fleet_values_render_three_replicas_a_disruption_budget_and_no_volume_claim() -> None:
    documents = _render(_fleet_values())
    for document in documents:
        if not document["apiVersion"].startswith("monitoring.coreos.com/"):
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    kinds = _by_kind(documents)
    assert "PersistentVolumeClaim" not in kinds
    deployment = kinds["Deployment"]["spec"]
    assert deployment["replicas"] == 3
    assert deployment["strategy"]["type"] == "RollingUpdate"
    pdb = kinds["PodDisruptionBudget"]["spec"]
    assert pdb["maxUnavailable"] == 1
    pod_labels = deployment["template"]["metadata"]["labels"]
    assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()
    volumes = {v["name"]: v for v in deployment["template"]["spec"]["volumes"]}
    assert "persistentVolumeClaim" not in volumes["state"]
    # The DSN reaches the pod as a mounted Secret, never inline in the ConfigMap.
    assert volumes["secret-postgres"]["secret"]["secretName"] == "sesmon-postgres"
    config = yaml.safe_load(kinds["ConfigMap"]["data"]["sesmon.yaml"])
    assert config["state"] == {
        "backend": "postgresql",
        "dsn_file": "/etc/sesmon/secrets/postgres/dsn",
        "lease_ttl": "15s",
    }
    report = helm.lint(CHART, _fleet_values(), strict=True, kube_version=f"v{KUBERNETES_VERSION}")
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_fleet_config_is_accepted_by_sesmon(tmp_path: Path) -> None:
    kinds = _by_kind(_render(_fleet_values()))
    text = kinds["ConfigMap"]["data"]["sesmon.yaml"].replace("/etc/sesmon/secrets/postgres/dsn", "dsn")
    (tmp_path / "dsn").write_text("postgresql://sesmon:hunter22@db.internal:5432/sesmon\n", encoding="utf-8")
    (tmp_path / "sesmon.yaml").write_text(text, encoding="utf-8")
    env = {**os.environ, "SESMON_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/ses-events"}
    result = subprocess.run(
        [sys.executable, "-m", "sesmon.cli", "check-config", str(tmp_path / "sesmon.yaml")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hunter22" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicas": 2, "persistence": {"enabled": False}}, "needs config.state.backend: postgresql"),
        ({"replicas": 3, "config": {"state": {"backend": "postgresql"}}}, "set persistence.enabled=false"),
    ],
)
def test_a_fleet_without_postgresql_or_with_a_volume_is_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(Exception, match=re.escape(message)):
        _render(values)


def test_the_fleet_profile_runs_replicas_on_the_compose_postgresql(tmp_path: Path) -> None:
    services = _compose()["services"]
    fleet = services["sesmon-fleet"]
    assert fleet["deploy"]["replicas"] == 3
    assert fleet["depends_on"]["postgres"]["condition"] == "service_healthy"
    config = _host_path(fleet, fleet["command"][-1])
    assert config is not None
    text = config.read_text(encoding="utf-8")
    assert yaml.safe_load(text)["state"]["backend"] == "postgresql"
    env = {
        **os.environ,
        "SESMON_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/ses-events",
        "SESMON_POSTGRES_PASSWORD": "hunter22",
    }
    result = subprocess.run(
        [sys.executable, "-m", "sesmon.cli", "check-config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hunter22" not in result.stdout + result.stderr
