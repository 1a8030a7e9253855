"""Static checks of the Docker Compose deployment: docker-compose.yaml, Dockerfile, .env.example.

No Docker engine is needed: the files are parsed and cross-checked against the repository
and the pinned versions in pyproject.toml / constraints.txt.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (ROOT / "docker-compose.yaml").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load(COMPOSE_TEXT)  # resolves the x-airflow-common anchors and `<<` merges
SERVICES: dict[str, dict] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
ENV_EXAMPLE = (ROOT / ".env.example").read_text(encoding="utf-8")

# Airflow 3 components of the official Celery compose file -> their `command`.
AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
    "airflow-init": None,
}

# ${VAR}, ${VAR-default}, ${VAR:-default} or a required ${VAR:?message}, not the $${VAR} escape.
SUBSTITUTION = re.compile(r"(?<!\$)\$\{(\w+)(?::?([-?])([^}]*))?\}")


def interpolate(value: object) -> str:
    """The value Compose uses: the file's defaults, and for a required variable a stand-in
    for what .env must give (the same for every use of that variable)."""

    def one(m: re.Match[str]) -> str:
        if m.group(2) == "?":
            return f"required-{m.group(1).lower().strip('_')}"
        return m.group(3) or ""

    return SUBSTITUTION.sub(one, str(value))


def env(service: str) -> dict[str, str]:
    raw = SERVICES[service].get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {key: "" if value is None else str(value) for key, value in raw.items()}


def pin(name: str) -> str:
    """Version pinned for ``name`` in constraints.txt."""
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        req, _, version = line.partition("==")
        if version and canonicalize_name(req.strip()) == canonicalize_name(name):
            return version.strip()
    raise AssertionError(f"{name} is not pinned in constraints.txt")


def depends_on(service: str) -> dict[str, dict]:
    deps = SERVICES[service].get("depends_on") or {}
    return {name: {} for name in deps} if isinstance(deps, list) else deps


def volume_mounts(service: str) -> list[tuple[str, str]]:
    """(interpolated source, type) of each mount; type is 'bind' or 'volume'."""
    mounts = []
    for volume in SERVICES[service].get("volumes") or []:
        if isinstance(volume, dict):
            mounts.append((interpolate(volume.get("source", "")), volume.get("type", "volume")))
            continue
        source = interpolate(volume).split(":")[0]
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        mounts.append((source, kind))
    return mounts


def test_every_airflow3_service_runs_the_project_image():
    missing = set(AIRFLOW_SERVICES) - set(SERVICES)
    assert not missing, f"Airflow 3 services missing: {sorted(missing)}"
    images = set()
    for name, command in AIRFLOW_SERVICES.items():
        service = SERVICES[name]
        build = service.get("build")
        assert build, f"{name} must be built from the project's Dockerfile"
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = (
            "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        )
        assert (ROOT / context / dockerfile).resolve() == ROOT / "Dockerfile", name
        images.add(service.get("image"))
        if command:
            assert service.get("command") == command, name
    assert len(images) == 1 and None not in images, f"one shared image tag expected, got {images}"


def test_dockerfile_base_image_matches_pinned_airflow_and_python():
    froms = re.findall(r"^FROM\s+(\S+)", DOCKERFILE, flags=re.MULTILINE)
    assert len(froms) == 1, froms
    match = re.fullmatch(r"apache/airflow:(?P<airflow>[\w.]+)-python(?P<python>\d+\.\d+)", froms[0])
    assert match, f"unexpected base image {froms[0]}"

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    airflow_req = next(
        Requirement(dep)
        for dep in project["dependencies"]
        if Requirement(dep).name == "apache-airflow"
    )
    assert str(airflow_req.specifier) == f"=={match['airflow']}", "pyproject.toml pin"
    assert pin("apache-airflow") == match["airflow"], "constraints.txt pin"
    assert SpecifierSet(project["requires-python"]).contains(match["python"]), (
        f"python{match['python']} image vs requires-python {project['requires-python']}"
    )


def test_dockerfile_installs_package_with_constraints_from_existing_files():
    assert re.search(r"pip install --no-cache-dir -c constraints\.txt \.", DOCKERFILE)
    ignored = [
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for line in re.findall(r"^COPY\s+(.+)$", DOCKERFILE, flags=re.MULTILINE):
        sources = [arg for arg in line.split() if not arg.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
            assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), (
                f"{source} is excluded by .dockerignore"
            )


def test_bind_mounts_exist_in_repo_and_named_volumes_are_declared():
    declared = set(COMPOSE.get("volumes") or {})
    binds = set()
    for name in SERVICES:
        for source, kind in volume_mounts(name):
            if kind == "bind":
                path = (ROOT / source).resolve()
                assert path.is_relative_to(ROOT), f"{name} mounts {source} from outside the repo"
                binds.add(path)
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
    for path in sorted(binds):
        assert path.exists(), f"bind-mounted {path.relative_to(ROOT)} does not exist"
    airflow_binds = {source for source, kind in volume_mounts("airflow-worker") if kind == "bind"}
    assert {"./dags", "./plugins", "./expectations"} <= airflow_binds


def test_depends_on_targets_exist_and_are_healthchecked():
    for name in SERVICES:
        for target, spec in depends_on(name).items():
            assert target in SERVICES, f"{name} depends on unknown service {target}"
            if spec.get("condition") == "service_healthy":
                assert "healthcheck" in SERVICES[target], f"{target} has no healthcheck"


def test_warehouse_url_and_connection_point_at_the_warehouse_service():
    warehouse = env("warehouse")
    metadata_host = urlsplit(
        interpolate(env("airflow-worker")["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    )
    for name in AIRFLOW_SERVICES:
        variables = env(name)
        url = urlsplit(interpolate(variables["NPL_WAREHOUSE_URL"]))
        conn = urlsplit(interpolate(variables["AIRFLOW_CONN_NPL_WAREHOUSE"]))
        assert url.scheme.startswith("postgresql"), url.scheme
        assert url.hostname == "warehouse" and url.hostname != metadata_host
        assert (url.username, url.password, url.path.lstrip("/")) == (
            interpolate(warehouse["POSTGRES_USER"]),
            interpolate(warehouse["POSTGRES_PASSWORD"]),
            interpolate(warehouse["POSTGRES_DB"]),
        )
        assert (conn.hostname, conn.port, conn.username, conn.path) == (
            url.hostname,
            url.port,
            url.username,
            url.path,
        ), "AIRFLOW_CONN_NPL_WAREHOUSE and NPL_WAREHOUSE_URL differ"
    assert SERVICES["warehouse"]["image"].startswith("postgres:")
    assert "healthcheck" in SERVICES["warehouse"]
    assert any(kind == "volume" for _, kind in volume_mounts("warehouse"))


def test_mlflow_tracking_uri_points_at_the_pinned_mlflow_server():
    mlflow = SERVICES["mlflow"]
    assert mlflow["image"] == f"ghcr.io/mlflow/mlflow:v{pin('mlflow')}"
    command = [str(arg) for arg in mlflow["command"]]
    port = int(command[command.index("--port") + 1])
    allowed = [
        h.strip() for h in interpolate(env("mlflow")["MLFLOW_SERVER_ALLOWED_HOSTS"]).split(",")
    ]
    for name in AIRFLOW_SERVICES:
        uri = urlsplit(interpolate(env(name)["NPL_MLFLOW_TRACKING_URI"]))
        assert uri.hostname == "mlflow" and uri.port == port, uri.geturl()
        # MLflow's own Host-header rule (mlflow/server/security_utils.py).
        host_header = f"{uri.hostname}:{uri.port}"
        assert "*" in allowed or any(
            fnmatch.fnmatch(host_header, p) if "*" in p else host_header == p for p in allowed
        ), f"MLflow would reject Host: {host_header}"


def test_celery_executor_with_a_healthy_broker():
    for name in AIRFLOW_SERVICES:
        variables = env(name)
        assert variables["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        for key in ("AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CELERY__RESULT_BACKEND"):
            host = urlsplit(interpolate(variables[key])).hostname
            assert host in SERVICES and "healthcheck" in SERVICES[host], f"{key} -> {host}"
        assert variables["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith(
            "http://airflow-apiserver:8080/"
        )


SECRET_KEY = re.compile(r"(PASSWORD|SECRET|TOKEN|FERNET_KEY|SECRET_KEY|API_KEY)$")
URL_PASSWORD = re.compile(r"://[^:/@\s]*:([^@\s]+)@")
WHOLE_SUBSTITUTION = re.compile(r"\$\{\w+(?::?[-?]([^}]*))?\}")


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_no_hardcoded_secrets_in_service_environment(service):
    for key, value in env(service).items():
        if SECRET_KEY.search(key):
            assert value == "" or WHOLE_SUBSTITUTION.fullmatch(value), f"{service}.{key} is literal"
        # Mask each ${...} first: a URL's password must be exactly one substitution.
        for password in URL_PASSWORD.findall(SUBSTITUTION.sub("\0", value)):
            assert password == "\0", f"{service}.{key}: literal URL password"
        if key.startswith("AIRFLOW_CONN_"):
            host = urlsplit(interpolate(value)).hostname
            external = WHOLE_SUBSTITUTION.fullmatch(value)
            assert host in SERVICES or external, f"{key}: external connection not taken from .env"
            if external and host not in SERVICES:
                assert urlsplit(interpolate(value)).password is None, (
                    f"{key}: default has a password"
                )
                assert host.endswith(".invalid"), f"{key}: placeholder must not resolve ({host})"


@pytest.mark.parametrize("name", ["docker-compose.yaml", "Dockerfile", ".env.example"])
def test_no_key_like_literals(name):
    text = (ROOT / name).read_text(encoding="utf-8")
    for token in re.findall(r"[A-Za-z0-9_\-+/=]{32,}", text):
        looks_random = all(re.search(cls, token) for cls in ("[a-z]", "[A-Z]", "[0-9]"))
        assert not looks_random, f"{name} contains a key-like literal {token[:8]}..."


def _strings(node: object):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def test_env_example_documents_every_substituted_variable():
    used = {m.group(1) for text in _strings(COMPOSE) for m in SUBSTITUTION.finditer(text)}
    documented = set(re.findall(r"^#?\s*(\w+)=", ENV_EXAMPLE, flags=re.MULTILINE))
    assert used and not used - documented, (
        f"undocumented in .env.example: {sorted(used - documented)}"
    )


def test_secrets_are_required_and_fail_closed():
    """No password has a default: without .env, compose refuses to start."""
    secrets = [m for m in SUBSTITUTION.finditer(COMPOSE_TEXT) if SECRET_KEY.search(m.group(1))]
    assert {m.group(1) for m in secrets} >= {
        "AIRFLOW_DB_PASSWORD",
        "NPL_WAREHOUSE_PASSWORD",
        "_AIRFLOW_WWW_USER_PASSWORD",
    }
    for m in secrets:
        assert m.group(0).startswith(f"${{{m.group(1)}:?"), f"{m.group(0)} fails open"
    for key in ("AIRFLOW_DB_PASSWORD", "NPL_WAREHOUSE_PASSWORD", "_AIRFLOW_WWW_USER_PASSWORD"):
        assert re.search(rf"^{key}=$", ENV_EXAMPLE, flags=re.MULTILINE), f"{key} has a sample"


@pytest.mark.parametrize("service", ["mlflow", "airflow-apiserver"])
def test_the_uis_are_published_on_loopback_only(service):
    ports = SERVICES[service].get("ports") or []
    assert ports, f"{service} publishes no port"
    for port in ports:
        published = interpolate(port if isinstance(port, str) else port.get("host_ip", ""))
        assert published.startswith("127.0.0.1:"), f"{service} listens beyond loopback"
    assert "reverse proxy" in COMPOSE_TEXT  # how to open them safely is documented


def test_scale_out_matches_the_celery_shards_test():
    """The setup tests/airflow/test_celery_shards.py runs: K shards over two or more
    Celery workers against the PostgreSQL warehouse."""
    from nplpipeline.warehouse.shards import MAX_SHARDS

    for name in AIRFLOW_SERVICES:
        shards = int(interpolate(env(name)["NPL_SHARDS"]))
        assert 1 < shards <= MAX_SHARDS, f"{name}: NPL_SHARDS={shards}"
    worker = SERVICES["airflow-worker"]
    assert int(interpolate(worker["deploy"]["replicas"])) >= 2
    assert int(interpolate(env("airflow-worker")["AIRFLOW__CELERY__WORKER_CONCURRENCY"])) >= 1
    assert "container_name" not in worker and "hostname" not in worker  # one name per replica
    backend = urlsplit(interpolate(env("airflow-worker")["AIRFLOW__CELERY__RESULT_BACKEND"]))
    assert backend.hostname == "postgres"  # the metadata DB, as in the test harness
    assert (ROOT / "docs" / "kubernetes.md").exists()
