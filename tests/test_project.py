"""The project's own promises: README commands, CI, compose file, public CLI."""

from __future__ import annotations

import yaml

from app.cli import main
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command():
    assert "make test" in README
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make demo" in README


def test_every_command_has_help_and_is_documented():
    for name, command in main.commands.items():
        assert command.help, name
        assert f"podslo {name}" in README, f"README does not show `podslo {name}`"


def test_compose_file_is_valid_and_uses_real_commands():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert "clickhouse" in services and services["clickhouse"]["healthcheck"]
    for name, service in services.items():
        if name == "clickhouse":
            continue
        assert service["build"] == "." or service["build"] == {"context": ".", "args": {"EXTRAS": "collector"}}
        assert service["command"][0] in main.commands, f"{name}: {service['command'][0]} is not a podslo command"
        if name == "board":  # it reads the API only
            assert "environment" not in service and service["depends_on"]["analyzer"]["condition"] == "service_healthy"
            assert service["command"][service["command"].index("--api") + 1] == "http://analyzer:8080"
            continue
        assert service["environment"]["PODSLO_DSN"].startswith("http://")
        assert service["depends_on"]["clickhouse"]["condition"] == "service_healthy"
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("podslo", "slo_rules", "collector", "simulator", "analyzer", "charts", "dashboard", "app"):
        assert f"COPY {package} {package}" in dockerfile


def test_deploy_manifests_grant_least_privilege():
    docs = [d for path in sorted((ROOT / "deploy").glob("*.yaml")) for d in yaml.safe_load_all(path.read_text()) if d]
    roles = {d["metadata"]["name"]: d for d in docs if d["kind"] in ("ClusterRole", "Role")}
    reader = roles["podslo-collector-read"]
    assert reader["kind"] == "ClusterRole"
    assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in reader["rules"])
    prober = roles["podslo-prober"]
    assert prober["kind"] == "Role" and prober["metadata"]["namespace"] == "podslo-probes", "writes stay namespaced"
    assert all(rule["resources"] == ["pods"] for rule in prober["rules"])
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] in main.commands and "--in-cluster" in args


def test_the_repo_carries_its_own_contracts():
    design = (ROOT / "docs" / "DESIGN.md").read_text()
    for contract in ("1. Input stream", "2. Verdicts", "3. Reason vocabulary", "4. HTTP API", "5. Alert webhooks"):
        assert contract in design
    assert "docs/DESIGN.md" in README


def test_the_image_runs_as_a_user_that_can_write_its_data_and_services_have_health_checks():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER podslo" in dockerfile and "chown podslo /app/data /spool" in dockerfile
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("analyzer", "collector"):
        assert "/healthz" in " ".join(services[name]["healthcheck"]["test"]), name
    assert "/_stcore/health" in " ".join(services["board"]["healthcheck"]["test"])


def test_the_wheel_stands_alone(tmp_path):
    """The built wheel carries the simulator's profiles and the rules: `simulate` and `demo`
    run from it, in a directory far from the repo."""
    import shutil
    import subprocess
    import sys

    source = tmp_path / "source"  # a clean copy: setuptools reuses ./build, whose stale files would mask a gap
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "data", "test-artifacts", "__pycache__", ".pytest_cache"
        ),
    )
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("podslo-*.whl"))
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("app/") for n in names) and any(n.startswith("charts/") for n in names)
    assert not [n for n in names if n.startswith("bench/") or "/bench" in n], "benchmarks ship in the wheel"
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "HOME": str(away)}

    def podslo(*args):
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args], cwd=away, env=env, capture_output=True, text=True, timeout=600
        )

    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import simulator, slo_rules, dashboard; print(simulator.__file__, slo_rules.__file__, dashboard.__file__)",
        ],
        cwd=away,
        env=env,
        capture_output=True,
        text=True,
    )
    assert all(path.startswith(str(site)) for path in where.stdout.split()), where.stdout + where.stderr
    simulated = podslo("simulate", "--profile", "cni-outage", "--until", "10m", "--record", "r.jsonl")
    assert simulated.returncode == 0 and (away / "r.jsonl").stat().st_size > 100_000, simulated.stderr
    demo = podslo("demo", "--minutes", "8", "--speed", "120", "--port", "18180")
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "pod-delivery" in demo.stdout and "SandboxCreateFailed" in demo.stdout
    assert "Traceback" not in demo.stderr
    benched = podslo("bench", "verdicts", "--pods", "10")
    assert benched.returncode == 1 and "run from a checkout" in benched.stderr, benched.stderr[-2000:]


def test_each_component_has_its_own_extra():
    """An image for the collector alone holds none of the board's or the report's libraries."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert {"collector", "serve", "board", "report", "dev"} <= set(extras)
    collector = " ".join(project["dependencies"] + extras["collector"])
    for library in ("streamlit", "altair", "vl-convert", "pillow", "fastapi", "drain3"):
        assert library not in collector, library


def test_the_cluster_deploy_example_is_one_cluster():
    """deploy/clickhouse-cluster cannot run here (no Docker engine): its pieces are checked
    against each other: two shards of two replicas, each node's macros its own, every host a
    service, and podslo's DSN naming the cluster the servers declare."""
    import xml.etree.ElementTree as ET

    import yaml

    here = ROOT / "deploy" / "clickhouse-cluster"
    compose = yaml.safe_load((here / "docker-compose.yml").read_text())
    cluster = ET.parse(here / "cluster.xml").getroot().find("remote_servers")
    (fleet,) = list(cluster)
    shards = [[r.findtext("host") for r in shard.findall("replica")] for shard in fleet.findall("shard")]
    assert [len(s) for s in shards] == [2, 2]
    macros = {}
    for path in here.glob("macros-*.xml"):
        root = ET.parse(path).getroot().find("macros")
        macros[root.findtext("replica")] = root.findtext("shard")
    assert macros == {host: str(i + 1) for i, shard in enumerate(shards) for host in shard}
    services = compose["services"]
    assert {h for s in shards for h in s} <= set(services) and "keeper" in services
    dsn = compose["x-podslo"]["environment"]["PODSLO_DSN"]
    assert dsn.endswith(f"?cluster={fleet.tag}") and services["serve"]["command"][:2] == ["serve", "--no-collect"]
