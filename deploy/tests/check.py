"""What `make test` checks of deploy/ (run by deploy/test.sh in its venv).

Nothing here runs Docker, Kubernetes or systemd: it loads every config the
deploy files make with the real `onair serve --check-config`, renders the
Helm chart (deploy/tests/gotemplate.py) and validates it against the
Kubernetes schemas, validates compose.yaml against the Compose spec, and
checks that ports, probes, grace periods and secrets are wired alike
everywhere.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate.utils as kv
import yaml

sys.path.insert(0, str(Path(__file__).parent))
import gotemplate  # noqa: E402

DEPLOY = Path(__file__).resolve().parent.parent
REPO = DEPLOY.parent
CHART = DEPLOY / "helm" / "onair"
ONAIR_BIN = os.environ.get("ONAIR_BIN", "")
# Kubernetes versions the rendered manifests must be valid for: the chart's
# kubeVersion floor and the newest schemas kubernetes-validate ships.
K8S_VERSIONS = ["1.25.0", kv.latest_version()]
# Every role answers /readyz (api/src/router.rs; the others: src/server.rs):
# 503 while draining or when its bus (api: also its store) does not answer.
READYZ = "/readyz"
# Open connections get this long after the drain (CONNECTION_GRACE, src/server.rs).
CONNECTION_GRACE = 5

passed: list[str] = []
failed: list[str] = []
notes: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> bool:
    if ok:
        passed.append(name)
        print(f"  ok    {name}")
    else:
        failed.append(name)
        print(f"  FAIL  {name}" + (f"\n        {detail}" if detail else ""))
    return ok


def section(title: str) -> None:
    print(f"\n{title}")


def secret_hex() -> str:
    return secrets.token_hex(32)


UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400}


def seconds(duration: str) -> int:
    """A humantime / systemd / Compose duration ("2h", "2h 1min", "2h1m", "45") in seconds."""
    text = duration.strip()
    if text.isdigit():
        return int(text)
    parts = re.findall(r"(\d+)\s*(min|sec|hr|s|m|h|d)", text)
    if not parts or re.sub(r"\s+", "", text) != "".join(n + u for n, u in parts):
        raise ValueError(f"duration {duration!r}")
    return sum(int(n) * UNITS[u] for n, u in parts)


# Set when the onair binary predates drain_timeout while src/config.rs has it
# (a stale binary given by hand; `make test` builds it from this tree).
STRIP_DRAIN = False


def stop_time(config: dict) -> int:
    """The longest a SIGTERM'd onair takes: drain, jobs, connections."""
    return seconds(config["drain_timeout"]) + seconds(config["shutdown_timeout"]) + CONNECTION_GRACE


def port_of(addr: str) -> int:
    return int(addr.rsplit(":", 1)[1])


def check_config(name: str, toml_text: str, env: dict[str, str], role: str | None,
                 expect_ok: bool = True, expect: str = "") -> str:
    """`onair serve --check-config` on this config text with exactly this environment."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "onair.toml"
        if STRIP_DRAIN:
            toml_text = re.sub(r"(?m)^drain_timeout\s*=.*$", "", toml_text)
        path.write_text(toml_text)
        cmd = [ONAIR_BIN, "serve", "--config", str(path), "--check-config"]
        if role:
            cmd += ["--role", role]
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RUST_BACKTRACE": "0",
                    "RUST_LOG": "error", **env}
        proc = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=60)
    out = (proc.stdout + proc.stderr).strip()
    first = out.splitlines()[0] if out else ""
    if expect_ok:
        check(f"{name}: check-config{' --role ' + role if role else ''}",
              proc.returncode == 0 and out.startswith("config OK") and expect in out, out)
    else:
        check(f"{name}: check-config refuses it ({expect})",
              proc.returncode != 0 and expect in out, f"rc={proc.returncode}: {first}")
    return first


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        env[key.strip()] = value.strip()
    return env


def filled(env: dict[str, str]) -> dict[str, str]:
    """The example with every REPLACE_ME replaced by a fresh 64-hex secret."""
    return {k: v.replace("REPLACE_ME", secret_hex()) for k, v in env.items()}


# -------------------------------------------------------------- systemd ----

def check_production_and_systemd() -> None:
    section("deploy/onair.production.toml, deploy/systemd/onair.service, deploy/Dockerfile")
    text = (DEPLOY / "onair.production.toml").read_text()
    config = tomllib.loads(text)
    example = read_env_file(DEPLOY / "systemd" / "onair.env.example")
    env = {k: v for k, v in example.items() if k.startswith("ONAIR_")}
    check_config("production toml + env example as shipped", text, env, None,
                 expect_ok=False, expect="shorter than 32 bytes")
    check_config("production toml + filled env example", text, filled(env), None,
                 expect="store postgres")
    check("production toml holds no secret",
          "api_keys" not in config and "s3" not in config and "database_url" not in config)
    # Every non-blank line that sets a key has a comment line above it or on it.
    lines = text.splitlines()
    bare = [l for i, l in enumerate(lines)
            if re.match(r"^[a-z_]+\s*=", l) and "#" not in l
            and not (i and lines[i - 1].lstrip().startswith("#"))]
    check("production toml: every setting is commented", not bare, f"uncommented: {bare}")
    with_metrics = re.sub(r"(?m)^# (metrics_listen = .*)$", r"\1", text)
    check("production toml: a commented metrics_listen line", with_metrics != text)
    check_config("production toml with metrics_listen uncommented", with_metrics, filled(env), None)

    unit = (DEPLOY / "systemd" / "onair.service").read_text()
    directives: dict[str, list[str]] = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            directives.setdefault(key.strip(), []).append(value.strip())
    one = lambda k: (directives.get(k) or [""])[-1]  # noqa: E731
    check("systemd: ExecStart", one("ExecStart") == "/usr/local/bin/onair serve --config /etc/onair/onair.toml")
    check("production toml sets drain_timeout and shutdown_timeout",
          "drain_timeout" in config and "shutdown_timeout" in config)
    stop = seconds(one("TimeoutStopSec"))
    check(f"systemd: TimeoutStopSec ({stop}s) > drain_timeout + shutdown_timeout + {CONNECTION_GRACE}s ({stop_time(config)}s)",
          stop > stop_time(config))
    check("systemd: KillSignal=SIGTERM", one("KillSignal") == "SIGTERM")
    data_dir = config["data_dir"]
    check(f"systemd: StateDirectory is data_dir ({data_dir})",
          data_dir == "/var/lib/" + one("StateDirectory"))
    hardening = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                 "PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": ""}
    wrong = {k: one(k) for k, v in hardening.items() if one(k) != v or k not in directives}
    check("systemd: hardened (NoNewPrivileges, ProtectSystem=strict, no capabilities, ...)", not wrong, str(wrong))
    check("systemd: runs as its own user", one("User") not in ("", "root"))
    check("systemd: secrets from an EnvironmentFile", one("EnvironmentFile").startswith("/etc/onair/"))
    analyze = shutil.which("systemd-analyze")
    if analyze:
        with tempfile.TemporaryDirectory() as tmp:
            copy_ = Path(tmp) / "onair.service"
            copy_.write_text(unit.replace("/usr/local/bin/onair", ONAIR_BIN))
            proc = subprocess.run([analyze, "verify", "--man=no", str(copy_)], capture_output=True, text=True)
            # verify also reports what it cannot see on this machine (the user,
            # the env file, the unit's own dependencies): keep syntax errors only.
            errors = [l for l in (proc.stderr + proc.stdout).splitlines()
                      if re.search(r"Unknown (key|section)|Invalid|Failed to parse|bad-setting", l)]
            check("systemd: systemd-analyze verify finds no unknown or invalid setting", not errors, "\n".join(errors))
            proc = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", str(copy_)],
                                  capture_output=True, text=True)
            m = re.search(r"Overall exposure level for \S+: ([\d.]+)", proc.stdout + proc.stderr)
            score = float(m.group(1)) if m else 99.0
            check(f"systemd: systemd-analyze security exposure {score} (at most 2.0: 'OK')", score <= 2.0,
                  (proc.stdout + proc.stderr)[-500:])
    else:
        notes.append("systemd-analyze not found: the unit's syntax was not verified")

    dockerfile = (DEPLOY / "Dockerfile").read_text()
    image_toml = text.replace('listen = "127.0.0.1:7880"', 'listen = "0.0.0.0:7880"')
    check("Dockerfile: the sed it runs on the production toml matches a line",
          'listen = "127.0.0.1:7880"' in text and image_toml != text)
    check_config("image's /etc/onair/onair.toml (production toml, listen 0.0.0.0)", image_toml, filled(env), None,
                 expect="listen 0.0.0.0:7880")
    image = tomllib.loads(image_toml)
    exposed = set(re.findall(r"(\d+)/(tcp|udp)", " ".join(re.findall(r"(?m)^EXPOSE (.*)$", dockerfile))))
    want = {(str(port_of(image["listen"])), "tcp"), (str(port_of(image["rtc_udp"])), "udp"),
            (str(port_of(image["rtmp_listen"])), "tcp")}
    check(f"Dockerfile: EXPOSE {sorted(want)} (listen, rtc_udp, rtmp_listen)", exposed == want, str(exposed))
    froms = re.findall(r"(?m)^FROM (\S+)", dockerfile)
    check("Dockerfile: build on bookworm, run on debian:bookworm-slim",
          len(froms) == 2 and "bookworm" in froms[0] and froms[1] == "debian:bookworm-slim", str(froms))
    deps = (REPO / "scripts" / "deps.sh").read_text()
    plugins = set(re.findall(r"(?<![\w-])gstreamer1\.0-(?:plugins-[a-z]+|libav)", deps))
    runtime = dockerfile.split("AS runtime", 1)[1]
    missing = sorted(p for p in plugins if p not in runtime)
    check(f"Dockerfile: runtime has scripts/deps.sh's GStreamer plugins ({len(plugins)})", plugins and not missing,
          f"missing: {missing}")
    check("Dockerfile: non-root USER, `onair serve` entrypoint",
          re.search(r"(?m)^USER onair", runtime) is not None
          and '["/usr/local/bin/onair", "serve"]' in runtime)
    ignore = (REPO / ".dockerignore").read_text().split()
    check(".dockerignore: target/ and node_modules/ stay out of the build context",
          "target/" in ignore and any("node_modules" in l for l in ignore))


# -------------------------------------------------------------- compose ----

INTERP = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^}]*\})*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def interpolate(value, env: dict[str, str], used: set[str]):
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, $$."""
    if isinstance(value, dict):
        return {k: interpolate(v, env, used) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, used) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        used.add(name)
        op, arg = m.group(2), m.group(3)
        have = name in env
        val = env.get(name, "")
        if op in (":-", "-"):
            if (op == ":-" and not val) or (op == "-" and not have):
                return interpolate(arg, env, used)
            return val
        if op in (":?", "?"):
            if (op == ":?" and not val) or (op == "?" and not have):
                raise ValueError(f"${{{name}}}: {arg}")
            return val
        return val

    return INTERP.sub(one, value)


def compose_schema() -> dict:
    import check_jsonschema.builtin_schemas as b
    path = Path(b.__file__).parent / "vendor" / "compose-spec.json"
    return json.loads(path.read_text())


def check_compose() -> None:
    section("deploy/compose.yaml, deploy/onair.env.example")
    raw = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(raw)]
    check("compose.yaml valid against the Compose specification schema (as written)", not errors, "\n".join(errors[:5]))
    example = read_env_file(DEPLOY / "onair.env.example")
    used: set[str] = set()
    compose = interpolate(raw, filled(example), used)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    check("compose.yaml valid against the Compose specification schema (interpolated)", not errors, "\n".join(errors[:5]))
    undefined = sorted(used - set(example))
    check("every ${VAR} of compose.yaml is documented in onair.env.example", not undefined, str(undefined))
    ignored = (DEPLOY / ".gitignore").read_text().split()
    check("deploy/.env (the real secrets) is ignored by git", ".env" in ignored)
    # No secret literal in the file: passwords and secrets are ${...} references.
    literal = []
    for sname, svc in raw["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|_KEY$|DATABASE_URL|MC_HOST", key) and "${" not in str(value):
                literal.append(f"{sname}.{key}")
    check("compose.yaml: every secret comes from the env file", not literal, str(literal))

    services = compose["services"]
    toml_text = compose["configs"]["onair_toml"]["content"]
    config = tomllib.loads(toml_text)
    check("compose: onair.toml sets drain_timeout and shutdown_timeout",
          "drain_timeout" in config and "shutdown_timeout" in config)
    for name in ("onair", "egress"):
        svc = services[name]
        cmd = svc.get("command") or []
        role = cmd[cmd.index("--role") + 1] if "--role" in cmd else None
        env = {k: str(v) for k, v in (svc.get("environment") or {}).items() if k.startswith("ONAIR_")}
        check_config(f"compose service {name}", toml_text, env, role)
        target = [c["target"] for c in svc.get("configs", []) if c["source"] == "onair_toml"]
        check(f"compose {name}: the config is mounted where --config reads it",
              target and target[0] == cmd[cmd.index("--config") + 1], f"{target} vs {cmd}")
        grace = seconds(svc.get("stop_grace_period", "10s"))
        check(f"compose {name}: stop_grace_period ({grace}s) > drain + shutdown + {CONNECTION_GRACE}s ({stop_time(config)}s)",
              grace > stop_time(config))
        probe = " ".join(svc["healthcheck"]["test"])
        path = READYZ
        check(f"compose {name}: healthcheck asks {path} on the listen port",
              f"/dev/tcp/127.0.0.1/{port_of(config['listen'])}" in probe and f"GET {path} " in probe, probe)
    shipped = interpolate(raw, example, set())
    check_config("compose service onair with onair.env.example as shipped",
                 shipped["configs"]["onair_toml"]["content"],
                 {k: str(v) for k, v in shipped["services"]["onair"]["environment"].items() if k.startswith("ONAIR_")},
                 None, expect_ok=False, expect="shorter than 32 bytes")
    published = services["onair"]["ports"]
    udp = port_of(config["rtc_udp"])
    check(f"compose: UDP media port {udp} published, as ICE announces it",
          f"{udp}:{udp}/udp" in published and all(port_of(c) == udp for c in config["rtc_candidates"]), str(published))
    http = port_of(config["listen"])
    rtmp = port_of(config["rtmp_listen"])
    check(f"compose: HTTP {http} and RTMP {rtmp} published",
          any(p.endswith(f":{http}:{http}/tcp") for p in published) and f"{rtmp}:{rtmp}/tcp" in published)
    for name in ("onair", "egress"):
        listen = services[name]["environment"].get("ONAIR_METRICS_LISTEN", "")
        mport = port_of(listen) if listen else None
        exposed = [p for s_ in services.values() for p in s_.get("ports", []) if mport and f":{mport}" in str(p)]
        check(f"compose {name}: metrics on {listen} (ONAIR_METRICS_LISTEN), not published to the host",
              listen.startswith("0.0.0.0:") and mport not in (http, rtmp) and not exposed, f"{listen} {exposed}")
    for dep in ("postgres", "redis", "minio"):
        check(f"compose: {dep} has a healthcheck and onair waits for it" if dep != "minio"
              else "compose: minio has a healthcheck and the bucket is made before onair starts",
              "healthcheck" in services[dep]
              and (services["onair"]["depends_on"].get(dep, {}).get("condition") == "service_healthy"
                   if dep != "minio" else
                   services["onair"]["depends_on"]["minio-bucket"]["condition"] == "service_completed_successfully"))
    named = [v.split(":")[0] for s in services.values() for v in s.get("volumes", []) if isinstance(v, str)]
    check("compose: named volumes for onair, postgres and minio data",
          all(n in compose.get("volumes", {}) for n in named) and {"onair-data", "postgres-data", "minio-data"} <= set(named))


# ----------------------------------------------------------------- helm ----

def render(values: dict | None, release: str = "onair", namespace: str = "default"):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(values or {}, f)
    try:
        return gotemplate.render_chart(str(CHART), [f.name], release, namespace)
    finally:
        os.unlink(f.name)


def render_fails(name: str, values: dict, expect: str) -> None:
    try:
        render(values)
    except gotemplate.RenderError as e:
        check(f"helm: {name} is refused ({expect})", expect in str(e), str(e))
        return
    check(f"helm: {name} is refused ({expect})", False, "it rendered")


def chart_scenarios() -> list[tuple[str, dict, str, str, dict]]:
    """(name, values, release, namespace, the contents of any existing Secrets it names)."""
    keys = {"apiKey": "APIonair", "apiSecret": secret_hex(),
            "databaseUrl": f"postgres://onair:{secret_hex()}@postgres.db.svc:5432/onair",
            "redisUrl": f"redis://:{secret_hex()}@redis.db.svc:6379"}
    a = {"secret": keys, "s3": {"enabled": True, "bucket": "recordings", "accessKey": "AKTEST",
                                "secretKey": secret_hex(), "endpoint": "https://s3.example.com"}}
    existing = {"ONAIR_API_KEY": "APIother", "ONAIR_API_SECRET": secret_hex(),
                "ONAIR_DATABASE_URL": "postgres://onair@pg:5432/onair", "ONAIR_REDIS_URL": "redis://redis:6379"}
    s3_existing = {"s3.toml": f'[s3]\nregion = "eu-west-1"\nbucket = "b"\naccess_key = "AK"\nsecret_key = "{secret_hex()}"\n'}
    b = {"secret": {"existingSecret": "my-onair-keys"},
         "s3": {"enabled": True, "existingSecret": "my-onair-s3"},
         "ports": {"http": 8080, "rtcUdp": 40000, "rtmp": 1936},
         "drainTimeoutSeconds": 600, "shutdownTimeoutSeconds": 120, "terminationGraceExtraSeconds": 30,
         "publicScheme": "http", "publicHost": "onair.internal.example",
         "sfu": {"announceHostIP": False, "rtcCandidates": ["203.0.113.7:40000", "198.51.100.9:40000"],
                 "metricsPort": 9201},
         "ingest": {"enabled": False},
         "ingress": {"tlsSecretName": "onair-tls", "className": ""},
         "persistence": {"existingClaim": "onair-shared"},
         "metrics": {"port": 9200, "serviceMonitor": {"enabled": True, "interval": "15s", "scrapeTimeout": "5s",
                                                      "labels": {"release": "kube-prometheus-stack"}}},
         "config": {"cors_origins": ["https://app.example.com"], "limits": {"participants_per_room": 50}},
         "turn": {"enabled": True, "udpPort": 3479, "publicHost": "turn.example.com", "publicIp": "203.0.113.7",
                  "relayPorts": "40000-40999"},
         "extraToml": '[[webhooks]]\nurl = "https://backend.example.com/onair"\nevents = ["call.*"]\n\n'
                      '[[ice_servers]]\nurls = ["stun:stun.example.com:3478"]'}
    c = {"secret": {"existingSecret": "my-onair-keys"}, "metrics": {"enabled": False},
         "egress": {"enabled": False}, "ingest": {"enabled": False}}
    d = {"secret": {"existingSecret": "my-onair-keys"}, "ingress": {"tlsSecretName": "onair-tls"},
         "sfu": {"replicas": 3, "podHost": "{pod}.sfu.example.com", "podTlsSecretName": "sfu-wildcard-tls"}}
    return [("defaults + chart-made Secrets + S3", a, "onair", "default", {}),
            ("existingSecret, other ports, 10 min drain, static ICE, no ingest, TLS, shared claim, "
             "metrics on 9200/9201 with a ServiceMonitor, TURN", b, "video", "media",
             {"my-onair-keys": existing, "my-onair-s3": s3_existing}),
            ("metrics off, api and sfu only", c, "onair", "default", {"my-onair-keys": existing}),
            ("three SFU pods, each at its own podHost", d, "onair", "default", {"my-onair-keys": existing})]


def check_helm() -> None:
    section("deploy/helm/onair (rendered by deploy/tests/gotemplate.py, validated with kubernetes-validate "
            f"against Kubernetes {', '.join(K8S_VERSIONS)})")
    render_fails("the chart's own values (no secrets given)", {}, "secret.apiSecret is required")
    render_fails("an API secret under 32 bytes",
                 {"secret": {"apiKey": "K", "apiSecret": "short", "databaseUrl": "postgres://x", "redisUrl": "redis://r"}},
                 "at least 32 bytes")
    render_fails("a SQLite database URL", {"secret": {"apiKey": "K", "apiSecret": secret_hex(),
                                                      "databaseUrl": "sqlite://x.db", "redisUrl": "redis://r"}},
                 "postgres")
    render_fails("a metrics port that is the HTTP port",
                 {"secret": {"existingSecret": "s"}, "metrics": {"port": 7880}}, "must differ from ports.http")
    render_fails("an SFU announcing no address",
                 {"secret": {"existingSecret": "s"}, "sfu": {"announceHostIP": False}}, "ICE must announce")
    render_fails("several SFU pods sharing publicHost",
                 {"secret": {"existingSecret": "s"}, "sfu": {"replicas": 2}}, "several replicas need sfu.podHost")
    render_fails("an SFU podHost that names no pod",
                 {"secret": {"existingSecret": "s"}, "sfu": {"podHost": "sfu.example.com"}}, "must contain {pod}")
    for name, values, release, namespace, existing in chart_scenarios():
        print(f" scenario: {name}")
        rendered = render(values, release, namespace)
        docs = gotemplate.manifests(rendered)
        check_manifests(name, values, docs, existing, release)


def check_manifests(name: str, values: dict, docs: list, existing: dict, release: str) -> None:
    merged = gotemplate.merge_values(yaml.safe_load((CHART / "values.yaml").read_text()), values)
    bad = []
    for path, doc in docs:
        if doc.get("apiVersion", "").startswith("monitoring.coreos.com/"):
            continue  # a CRD's kind: check_service_monitor
        for version in K8S_VERSIONS:
            try:
                kv.validate(doc, version, strict=True)
            except kv.ValidationError as e:
                bad.append(f"{path} {doc.get('kind')}/{doc['metadata'].get('name')} (k8s {version}): "
                           f"{'.'.join(map(str, e.path))}: {e.message}")
            except (kv.SchemaNotFoundError, kv.InvalidSchemaError) as e:
                bad.append(f"{path}: {e}")
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for _, d in docs)
    crds = [d for _, d in docs if d.get("apiVersion", "").startswith("monitoring.coreos.com/")]
    check(f"{len(docs) - len(crds)} manifests valid against the Kubernetes schemas (strict)", not bad,
          "\n        ".join(bad[:8]))
    by_kind: dict[str, dict[str, dict]] = {}
    for _, d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    secrets_: dict[str, dict[str, str]] = {n: {k: base64.b64decode(v).decode() for k, v in (s.get("data") or {}).items()}
                                           for n, s in by_kind.get("Secret", {}).items()}
    secrets_.update(existing)
    cms = by_kind.get("ConfigMap", {})
    check("one ConfigMap holding onair.toml", len(cms) == 1 and "onair.toml" in next(iter(cms.values()))["data"], kinds)
    cm_name, cm = next(iter(cms.items()))
    toml_text = cm["data"]["onair.toml"]
    config = tomllib.loads(toml_text)
    leaked = [k for s in secrets_.values() for k, v in s.items() if len(v) >= 16 and v in toml_text]
    check("no secret in the ConfigMap", not leaked, str(leaked))
    http, udp, rtmp = port_of(config["listen"]), port_of(config["rtc_udp"]), port_of(config["rtmp_listen"])
    check("onair.toml ports are the chart's (listen, rtc_udp, rtmp_listen)",
          (http, udp, rtmp) == (merged["ports"]["http"], merged["ports"]["rtcUdp"], merged["ports"]["rtmp"]))
    drain, shutdown = merged["drainTimeoutSeconds"], merged["shutdownTimeoutSeconds"]
    check(f"onair.toml drain_timeout {drain}s, shutdown_timeout {shutdown}s (drainTimeoutSeconds, shutdownTimeoutSeconds)",
          seconds(config["drain_timeout"]) == drain and seconds(config["shutdown_timeout"]) == shutdown)
    # The SFU's is a StatefulSet when its pods have a name each (sfu.podHost).
    deployments = by_kind.get("Deployment", {}) | by_kind.get("StatefulSet", {})
    roles = [r for r in ("api", "sfu", "egress", "ingest") if merged[r]["enabled"]]
    check(f"one Deployment (or StatefulSet) per enabled role ({','.join(roles)})",
          sorted(d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] for d in deployments.values())
          == sorted(roles))
    want_grace = drain + shutdown + merged["terminationGraceExtraSeconds"]
    for dname, dep in deployments.items():
        pod = dep["spec"]["template"]["spec"]
        role = dep["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        c = pod["containers"][0]
        args = c["args"]
        ports = {p["name"]: p for p in c["ports"]}
        tag = f"{role}:"
        check(f"{tag} runs `onair serve --role {role}` on the assembled config",
              args[args.index("--role") + 1] == role and args[args.index("--config") + 1] == "/run/onair/onair.toml")
        live, ready = c["livenessProbe"]["httpGet"], c["readinessProbe"]["httpGet"]
        ready_want = READYZ
        check(f"{tag} liveness GET /healthz, readiness GET {ready_want}, on the listen port ({http})",
              live["path"] == "/healthz" and ready["path"] == ready_want
              and live["port"] == ready["port"] == "http" and ports["http"]["containerPort"] == http,
              f"liveness {live}, readiness {ready}, ports {ports}")
        assembled = assemble(pod, cm, secrets_, role)
        mconf = tomllib.loads(assembled)
        ann = dep["spec"]["template"]["metadata"].get("annotations") or {}
        if merged["metrics"]["enabled"]:
            mport = int(merged[role].get("metricsPort") or merged["metrics"]["port"])
            mp = ports.get("metrics", {})
            check(f"{tag} metrics_listen 0.0.0.0:{mport} in its onair.toml, container port `metrics`"
                  + (", on the node" if role == "sfu" else "") + ", prometheus.io annotations",
                  mconf.get("metrics_listen") == f"0.0.0.0:{mport}" and mp.get("containerPort") == mport
                  and mp.get("protocol") == "TCP" and (mp.get("hostPort") == mport if role == "sfu" else "hostPort" not in mp)
                  and mport not in (http, rtmp)
                  and ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == str(mport)
                  and ann.get("prometheus.io/path") == "/metrics",
                  f"metrics_listen {mconf.get('metrics_listen')}, port {mp}, annotations {ann}")
        else:
            check(f"{tag} metrics off: no metrics_listen, port or prometheus.io annotation",
                  "metrics_listen" not in mconf and "metrics" not in ports
                  and not any(k.startswith("prometheus.io/") for k in ann))
        grace = pod["terminationGracePeriodSeconds"]
        check(f"{tag} terminationGracePeriodSeconds {grace} = drain {drain} + shutdown {shutdown} + "
              f"{merged['terminationGraceExtraSeconds']} (> the {stop_time(config)}s onair may take)",
              grace == want_grace and grace > stop_time(config))
        if role == "sfu":
            check(f"{tag} hostNetwork, DNS for host network, UDP {udp} on the node",
                  pod.get("hostNetwork") is True and pod.get("dnsPolicy") == "ClusterFirstWithHostNet"
                  and ports["rtc-udp"]["containerPort"] == udp and ports["rtc-udp"]["hostPort"] == udp
                  and ports["rtc-udp"]["protocol"] == "UDP")
        else:
            check(f"{tag} not on the host network", not pod.get("hostNetwork"))
        if role == "ingest":
            check(f"{tag} RTMP port {rtmp}", ports["rtmp"]["containerPort"] == rtmp)
        sec = c["securityContext"]
        check(f"{tag} non-root, read-only root, no capabilities, no service account token",
              pod["securityContext"]["runAsNonRoot"] and sec["readOnlyRootFilesystem"]
              and sec["capabilities"]["drop"] == ["ALL"] and not sec["allowPrivilegeEscalation"]
              and pod["automountServiceAccountToken"] is False)
        env, missing = {}, []
        for e in c.get("env", []):
            if "value" in e:
                # Kubernetes expands $(NAME) of variables defined before.
                env[e["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), e["value"])
            elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
                env[e["name"]] = f"{dname}-0"
            elif "secretKeyRef" in e.get("valueFrom", {}):
                ref = e["valueFrom"]["secretKeyRef"]
                if ref["key"] in secrets_.get(ref["name"], {}):
                    env[e["name"]] = secrets_[ref["name"]][ref["key"]]
                else:
                    missing.append(f"{ref['name']}/{ref['key']}")
        check(f"{tag} every secretKeyRef names a key of a Secret", not missing, str(missing))
        check(f"{tag} the database URL only where the store is used (api, sfu)",
              ("ONAIR_DATABASE_URL" in env) == (role in ("api", "sfu")))
        vols = {v["name"]: v for v in pod["volumes"]}
        check(f"{tag} its volumes name the ConfigMap and Secrets rendered or given",
              vols["config"]["configMap"]["name"] == cm_name
              and all(v["secret"]["secretName"] in secrets_ for v in vols.values() if "secret" in v))
        check_config(f"{tag} onair.toml as its init container assembles it (+ its env)", assembled, env, role)
        if role == "sfu":
            check_sfu_pods(dep, merged, env)
            cands = tomllib.loads(assembled).get("rtc_candidates", [])
            want = ([f"10.20.30.40:{udp}"] if merged["sfu"]["announceHostIP"] else []) + list(merged["sfu"]["rtcCandidates"])
            check(f"{tag} ICE candidates: {want}", cands == want, str(cands))
            turn, tv = tomllib.loads(assembled).get("turn"), merged["turn"]
            if tv["enabled"]:
                check(f"{tag} TURN on UDP {tv['udpPort']} of the node, relaying on {tv['relayPorts']}",
                      turn is not None and turn["udp_listen"] == f"0.0.0.0:{tv['udpPort']}"
                      and turn["public_host"] == tv["publicHost"] and turn["relay_ports"] == tv["relayPorts"]
                      and ports["turn"]["hostPort"] == tv["udpPort"] and ports["turn"]["protocol"] == "UDP",
                      f"{turn} {ports.get('turn')}")
            else:
                check(f"{tag} no TURN unless enabled", turn is None and "turn" not in ports)
    check_config("the ConfigMap's onair.toml alone (all roles, keys from the env)", toml_text,
              {"ONAIR_API_KEY": "APItest", "ONAIR_API_SECRET": secret_hex()}, None)
    services = by_kind.get("Service", {})
    metrics_services = {}
    for sname, svc in services.items():
        sel = svc["spec"]["selector"]
        targets = [d for d in deployments.values() if selects(sel, d)]
        port_sets = [{p["name"] for p in d["spec"]["template"]["spec"]["containers"][0]["ports"]} for d in targets]
        wanted = {p["targetPort"] for p in svc["spec"]["ports"]}
        if "metrics" in wanted:
            metrics_services[sname] = svc
            check(f"Service {sname} (headless) selects every Deployment, each with a `metrics` port",
                  wanted == {"metrics"} and svc["spec"].get("clusterIP") == "None"
                  and len(targets) == len(deployments) and all("metrics" in n for n in port_sets), f"{port_sets}")
        else:
            check(f"Service {sname} selects a Deployment and its targetPorts exist",
                  len(targets) == 1 and wanted <= port_sets[0], f"{port_sets}")
    monitors = by_kind.get("ServiceMonitor", {})
    want_sm = merged["metrics"]["enabled"] and merged["metrics"]["serviceMonitor"]["enabled"]
    check(f"a ServiceMonitor and its metrics Service {'' if want_sm else 'not '}rendered "
          f"(metrics.serviceMonitor.enabled: {merged['metrics']['serviceMonitor']['enabled']})",
          (len(monitors) == 1 and len(metrics_services) == 1) if want_sm else not monitors and not metrics_services,
          f"{list(monitors)} {list(metrics_services)}")
    for mname, monitor in monitors.items():
        check_service_monitor(mname, monitor, metrics_services, merged)
    for iname, ing in by_kind.get("Ingress", {}).items():
        check_pod_hosts(iname, ing, merged, services, deployments)
        public = [r for r in ing["spec"]["rules"] if r["host"] == merged["publicHost"]]
        routes = {p["path"]: p["backend"]["service"] for r in public for p in r["http"]["paths"]}
        ok = all(b["name"] in services and b["port"]["number"] == http and b["name"] not in metrics_services
                 for b in routes.values())
        comp = {path: services[b["name"]]["spec"]["selector"]["app.kubernetes.io/component"]
                for path, b in routes.items() if b["name"] in services}
        want = {"/": "api", "/rtc": "sfu"} | ({"/whip": "ingest"} if merged["ingest"]["enabled"] else {})
        check(f"Ingress {iname}: {want} on port {http}", ok and comp == want, str(comp))
        ann = ing["metadata"].get("annotations") or {}
        check(f"Ingress {iname}: WebSocket timeouts for nginx",
              int(ann.get("nginx.ingress.kubernetes.io/proxy-read-timeout", 0)) >= 3600)
        check(f"Ingress {iname}: host is publicHost, which signal_url and public_url name",
              len(public) == 1
              and config["signal_url"].endswith("://" + merged["publicHost"])
              and config["public_url"].endswith("://" + merged["publicHost"]))


def selects(selector: dict, workload: dict) -> bool:
    """Whether a Service's selector picks pods of `workload` (one pod of a
    StatefulSet by its pod-name label)."""
    labels = dict(workload["spec"]["template"]["metadata"]["labels"])
    pod = selector.get("statefulset.kubernetes.io/pod-name")
    if pod is not None:
        name, count = workload["metadata"]["name"], workload["spec"]["replicas"]
        if workload["kind"] != "StatefulSet" or pod not in {f"{name}-{i}" for i in range(count)}:
            return False
        labels["statefulset.kubernetes.io/pod-name"] = pod
    return all(labels.get(k) == v for k, v in selector.items())


def check_sfu_pods(workload: dict, merged: dict, env: dict) -> None:
    """SFU pods with a name each (sfu.podHost): a StatefulSet replaced one pod
    at a time, each announcing the signal URL of its name; else one
    Deployment, replaced once the old pod is gone, at publicHost."""
    host, spec = merged["sfu"]["podHost"], workload["spec"]
    if not host:
        check("sfu: one pod, a Deployment replaced once the old pod is gone (Recreate), at publicHost",
              workload["kind"] == "Deployment" and spec["replicas"] == 1
              and spec["strategy"]["type"] == "Recreate" and "ONAIR_SIGNAL_URL" not in env)
        return
    scheme = "wss" if merged["publicScheme"] == "https" else "ws"
    want = f"{scheme}://{host.replace('{pod}', workload['metadata']['name'] + '-0')}"
    check(f"sfu: a StatefulSet of {spec['replicas']}, started together, replaced one pod at a time; "
          f"pod 0 announces {want}",
          workload["kind"] == "StatefulSet" and spec["replicas"] == merged["sfu"]["replicas"]
          and spec["podManagementPolicy"] == "Parallel" and spec["updateStrategy"]["type"] == "RollingUpdate"
          and env.get("ONAIR_SIGNAL_URL") == want, str(env.get("ONAIR_SIGNAL_URL")))


def check_pod_hosts(iname: str, ing: dict, merged: dict, services: dict, workloads: dict) -> None:
    """Each SFU pod's podHost routes /rtc to a Service of that pod alone, under
    sfu.podTlsSecretName; no other host than publicHost without podHost."""
    host = merged["sfu"]["podHost"] if merged["sfu"]["enabled"] else ""
    sfu = [w for w in workloads.values() if w["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "sfu"]
    pods = [f"{sfu[0]['metadata']['name']}-{i}" for i in range(merged["sfu"]["replicas"])] if host else []
    hosts = {host.replace("{pod}", pod): pod for pod in pods}
    rules = {r["host"]: r for r in ing["spec"]["rules"] if r["host"] != merged["publicHost"]}
    routed = {}
    for h, rule in rules.items():
        backends = {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
        svc = services.get(backends.get("/rtc"), {})
        picked = [w for w in workloads.values() if svc and selects(svc["spec"]["selector"], w)]
        spec = svc.get("spec", {})
        routed[h] = (list(backends), spec.get("selector", {}).get("statefulset.kubernetes.io/pod-name"), len(picked),
                     spec.get("publishNotReadyAddresses"))
    want = {h: (["/rtc"], pod, 1, True) for h, pod in hosts.items()}
    check(f"Ingress {iname}: " + (f"/rtc of each SFU pod's host ({', '.join(hosts)}) to that pod alone, "
                                   "also while it drains (not ready: sessions there may resume)" if host
                                   else "no host but publicHost"), routed == want, str(routed))
    tls = [t for t in ing["spec"].get("tls", []) if t.get("secretName") == merged["sfu"]["podTlsSecretName"]]
    if host and merged["sfu"]["podTlsSecretName"]:
        check(f"Ingress {iname}: the pods' hosts under {merged['sfu']['podTlsSecretName']}",
              len(tls) == 1 and sorted(tls[0]["hosts"]) == sorted(hosts), str(tls))


# The Prometheus Operator's duration pattern (its CRD's `interval`, `scrapeTimeout`).
PROM_DURATION = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")
# The fields of monitoring.coreos.com/v1 ServiceMonitor this chart writes (a
# subset of the CRD's schema, written down here: no cluster, no CRD to load).
SERVICE_MONITOR_SCHEMA = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object", "required": ["name", "namespace"], "properties": {
            "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
            "namespace": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "spec": {"type": "object", "required": ["selector", "endpoints"], "additionalProperties": False, "properties": {
            "selector": {"type": "object", "additionalProperties": False, "required": ["matchLabels"], "properties": {
                "matchLabels": {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}}}},
            "namespaceSelector": {"type": "object", "additionalProperties": False, "properties": {
                "matchNames": {"type": "array", "items": {"type": "string"}}, "any": {"type": "boolean"}}},
            "endpoints": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False, "required": ["port"], "properties": {
                    "port": {"type": "string"}, "path": {"type": "string", "pattern": "^/"},
                    "interval": {"type": "string", "pattern": PROM_DURATION.pattern},
                    "scrapeTimeout": {"type": "string", "pattern": PROM_DURATION.pattern},
                    "relabelings": {"type": "array", "items": {
                        "type": "object", "additionalProperties": False, "properties": {
                            "sourceLabels": {"type": "array", "items": {
                                "type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"}},
                            "targetLabel": {"type": "string"}, "action": {"type": "string"},
                            "regex": {"type": "string"}, "replacement": {"type": "string"},
                            "separator": {"type": "string"}}}}}}}}}}}


def check_service_monitor(name: str, monitor: dict, metrics_services: dict, merged: dict) -> None:
    """A CRD kubernetes-validate has no schema for: its fields, and that it finds the metrics Service."""
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
              for e in jsonschema.Draft202012Validator(SERVICE_MONITOR_SCHEMA).iter_errors(monitor)]
    check(f"ServiceMonitor {name}: monitoring.coreos.com/v1 fields (the part of the CRD's schema it uses)",
          not errors, "\n        ".join(errors[:6]))
    if errors:
        return
    spec = monitor["spec"]
    sel = spec["selector"]["matchLabels"]
    found = [s for s in metrics_services.values()
             if all(s["metadata"].get("labels", {}).get(k) == v for k, v in sel.items())
             and s["metadata"]["namespace"] in spec.get("namespaceSelector", {}).get("matchNames", [monitor["metadata"]["namespace"]])]
    ports = {p["name"] for s in found for p in s["spec"]["ports"]}
    sm = merged["metrics"]["serviceMonitor"]
    ep = spec["endpoints"][0]
    check(f"ServiceMonitor {name}: selects the metrics Service, scrapes its `metrics` port at /metrics, "
          f"every {sm['interval']} (timeout {sm['scrapeTimeout']}), with the labels values give",
          len(found) == 1 and all(e["port"] in ports for e in spec["endpoints"]) and ep.get("path") == "/metrics"
          and ep.get("interval") == sm["interval"] and ep.get("scrapeTimeout") == sm["scrapeTimeout"]
          and all(monitor["metadata"].get("labels", {}).get(k) == v for k, v in sm["labels"].items()),
          f"found {len(found)} Service(s), ports {ports}, endpoints {spec['endpoints']}")


def assemble(pod: dict, configmap: dict, secrets_: dict, role: str) -> str:
    """Runs the init container's script with sh, its mounts in a temp dir."""
    init = pod["initContainers"][0]
    vols = {v["name"]: v for v in pod["volumes"]}
    with tempfile.TemporaryDirectory() as tmp:
        script = init["args"][0]
        for m in init["volumeMounts"]:
            local = Path(tmp) / m["name"]
            local.mkdir()
            vol = vols[m["name"]]
            if "configMap" in vol:
                for k, v in configmap["data"].items():
                    (local / k).write_text(v)
            elif "secret" in vol:
                for k, v in secrets_[vol["secret"]["secretName"]].items():
                    (local / k).write_text(v)
            script = script.replace(m["mountPath"], str(local))
        env = {"PATH": "/usr/bin:/bin"}
        for e in init.get("env", []):
            if e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "status.hostIP":
                env[e["name"]] = "10.20.30.40"
        if re.search(r"(?<![\w.-])/(etc|run)/onair", script):
            raise AssertionError(f"{role}: init script reads a path no volume mounts:\n{script}")
        subprocess.run(["/bin/sh", "-ec", script], env=env, check=True)
        return (Path(tmp) / "run" / "onair.toml").read_text()


# ------------------------------------------------------------- grafana ----

DASHBOARD = DEPLOY / "grafana" / "onair.json"
ROWS = ["Overview", "SFU", "HTTP", "Egress & ingest", "Webhooks", "Store & process", "Limits", "TURN"]
# Grafana's unit ids the dashboard may use.
UNITS_OK = {"short", "pps", "bps", "s", "bytes", "percentunit", "reqps", "cps"}
# Labels Prometheus puts on every scraped series (and relabels the chart adds).
TARGET_LABELS = {"job", "instance"}
# Grafana's interval variables, as the durations they stand for when parsed.
GRAFANA_DURATIONS = {"$__rate_interval": "1m", "$__interval": "30s", "$__range": "6h"}
# Metrics in the dashboard that a fresh `onair dev` has not registered yet:
# the `metrics` crate registers a series at its first use.
LAZY = {
    "onair_sfu_rooms": "when the first room starts (sfu/src/room/mod.rs)",
    "onair_sfu_signal_connections": "at the first /rtc signal WebSocket (sfu/src/signal/routes.rs)",
    "onair_egress_jobs": "when an egress worker starts its first job (egress/src/report.rs)",
    "onair_egress_jobs_ended_total": "when an egress job first ends (egress/src/report.rs)",
    "onair_ingest_streams": "at the first RTMP or WHIP stream (ingest/src/lib.rs)",
    "onair_egress_cpu_seconds": "at an egress job's first tick (egress/src/job/runner.rs)",
    "onair_ingest_cpu_seconds": "when a transcoder first counts (ingest/src/transcode.rs)",
    "onair_limit_hits_total": "at the first limit hit (sfu/src/limits.rs, ingest/src/rtmp.rs, src/http.rs)",
    # turn/src/stats.rs takes its handles when the TURN server starts, which `onair dev` does not (yet).
    "onair_turn_allocations": "when the TURN server starts (turn/src/stats.rs)",
    "onair_turn_allocations_created_total": "when the TURN server starts (turn/src/stats.rs)",
    "onair_turn_refused_total": "when the TURN server starts (turn/src/stats.rs)",
    "onair_turn_relayed_bytes_total": "when the TURN server starts (turn/src/stats.rs)",
}
# A gauge that holds a total (CPU seconds so far): rate() of it is meant.
RATE_OF_GAUGE = {"onair_process_cpu_seconds", "onair_egress_cpu_seconds", "onair_ingest_cpu_seconds"}
RATE_FUNCS = {"rate", "irate", "increase"}


def registered_metrics() -> dict[str, dict]:
    """The metrics the Rust sources register: name -> {kind, labels, where}, from
    the `counter!/gauge!/histogram!("name", "label" => …)` literals."""
    found: dict[str, dict] = {}
    for path in sorted(REPO.rglob("*.rs")):
        rel = path.relative_to(REPO)
        if rel.parts[0] in ("target", "node_modules", ".git") or "target" in rel.parts:
            continue
        text = path.read_text(errors="replace")
        for m in re.finditer(r"\b(counter|gauge|histogram)!\(\s*\"([^\"]+)\"", text):
            depth, i = 1, m.end()
            while depth and i < len(text):  # the macro's arguments, to its closing parenthesis
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                i += 1
            labels = set(re.findall(r"\"([a-zA-Z_][a-zA-Z0-9_]*)\"\s*=>", text[m.end():i]))
            entry = found.setdefault(m.group(2), {"kind": m.group(1), "labels": set(), "where": set()})
            if entry["kind"] != m.group(1):
                entry["conflict"] = f"{entry['kind']} and {m.group(1)}"
            entry["labels"] |= labels
            entry["where"].add(str(rel))
    return found


def series_base(name: str, registered: dict) -> str | None:
    """The registered metric a series name belongs to (histograms: _bucket, _sum, _count)."""
    if name in registered:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name.removesuffix(suffix)
        if name.endswith(suffix) and registered.get(base, {}).get("kind") == "histogram":
            return base
    return None


def dashboard_exprs(dash: dict) -> list[tuple[str, dict, dict]]:
    """(panel title, panel, target) for every query of every panel, rows' collapsed panels too."""
    out = []
    for p in dash.get("panels", []):
        for q in [p] + list(p.get("panels", [])):
            for t in q.get("targets", []):
                out.append((q.get("title", "?"), q, t))
    return out


def promql(expr: str):
    import promql_parser
    for var, dur in GRAFANA_DURATIONS.items():
        expr = expr.replace(var, dur)
    return promql_parser.parse(expr)


def expr_facts(ast, registered: dict) -> dict:
    """What an expression uses: its series, labels, rate() arguments, and its output labels."""
    import promql_parser as pp
    facts = {"series": [], "matchers": [], "grouping": [], "rated": set(), "quantile": []}

    def labels_of(name: str) -> set[str]:
        base = series_base(name, registered)
        extra = {"le"} if name.endswith("_bucket") else set()
        return (registered[base]["labels"] if base else set()) | TARGET_LABELS | extra

    def out_labels(node) -> set[str]:
        """The labels the result of `node` carries (empty for a scalar)."""
        if isinstance(node, pp.VectorSelector):
            return labels_of(node.name)
        if isinstance(node, pp.MatrixSelector):
            return out_labels(node.vector_selector)
        if isinstance(node, pp.ParenExpr):
            return out_labels(node.expr)
        if isinstance(node, (pp.NumberLiteral, pp.StringLiteral)):
            return set()
        if isinstance(node, pp.UnaryExpr):
            return out_labels(node.expr)
        if isinstance(node, pp.AggregateExpr):
            inner = out_labels(node.expr)
            if node.modifier is None:
                return set()
            if node.modifier.type == pp.AggModifierType.By:
                return set(node.modifier.labels)
            return inner - set(node.modifier.labels)
        if isinstance(node, pp.Call):
            name = node.func.name
            vectors = [a for a in node.args if not isinstance(a, (pp.NumberLiteral, pp.StringLiteral))]
            inner = out_labels(vectors[-1]) if vectors else set()
            return inner - {"le"} if name == "histogram_quantile" else inner
        if isinstance(node, pp.BinaryExpr):
            lhs, rhs = out_labels(node.lhs), out_labels(node.rhs)
            return lhs if lhs or isinstance(node.rhs, pp.NumberLiteral) else rhs
        return set()

    def visit(node):
        if isinstance(node, pp.VectorSelector):
            facts["series"].append(node.name)
            facts["matchers"].append((node.name, [(m.name, m.op, m.value) for m in node.matchers.matchers]))
        elif isinstance(node, pp.AggregateExpr) and node.modifier is not None:
            facts["grouping"].append((set(node.modifier.labels), out_labels(node.expr)))
        elif isinstance(node, pp.BinaryExpr) and node.modifier is not None and node.modifier.matching is not None:
            facts["grouping"].append((set(node.modifier.matching.labels),
                                      out_labels(node.lhs) | out_labels(node.rhs)))
        elif isinstance(node, pp.Call) and node.func.name == "histogram_quantile":
            facts["quantile"].append(out_labels(node.args[-1]))
        elif isinstance(node, pp.Call) and node.func.name in RATE_FUNCS:
            for a in node.args:
                if isinstance(a, pp.MatrixSelector):
                    facts["rated"].add(a.vector_selector.name)
        return True

    pp.walk(ast, visit)
    facts["out"] = out_labels(ast)
    return facts


def check_dashboard() -> set[str]:
    """Static checks of deploy/grafana/onair.json; returns the series names its queries use."""
    section("deploy/grafana/onair.json (Grafana dashboard; queries parsed with promql-parser, "
            "metric names against the Rust sources)")
    try:
        dash = json.loads(DASHBOARD.read_text())
    except (OSError, json.JSONDecodeError) as e:
        check("dashboard is valid JSON", False, str(e))
        return set()
    check("dashboard is valid JSON", True)
    check(f"schemaVersion {dash.get('schemaVersion')} >= 39, a uid and a title",
          isinstance(dash.get("schemaVersion"), int) and dash["schemaVersion"] >= 39
          and dash.get("uid") and dash.get("title") and dash.get("id") is None)
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("DS_PROMETHEUS", {})
    check("a datasource variable DS_PROMETHEUS (type prometheus)",
          ds.get("type") == "datasource" and ds.get("query") == "prometheus", str(ds)[:200])
    ds_ref = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    bad_vars = []
    for name in ("job", "instance"):
        v = variables.get(name, {})
        query = v.get("query", {}).get("query") if isinstance(v.get("query"), dict) else v.get("query")
        if not (v.get("type") == "query" and v.get("datasource") == ds_ref and v.get("includeAll")
                and v.get("multi") and isinstance(query, str) and f", {name})" in query):
            bad_vars.append(name)
    check("template variables job and instance (label_values, multi, All) on DS_PROMETHEUS", not bad_vars,
          str(bad_vars))
    panels = dash.get("panels", [])
    rows = [p.get("title") for p in panels if p.get("type") == "row"]
    check(f"rows in order: {', '.join(ROWS)}", rows == ROWS, str(rows))
    # Each row has panels under it (up to the next row), laid out inside 24 columns without overlap.
    under: dict[str, list] = {}
    current = None
    cells: set[tuple[int, int]] = set()
    overlap, ids = [], []
    for p in panels:
        for q in [p] + list(p.get("panels", [])):
            ids.append(q.get("id"))
            g = q.get("gridPos", {})
            if g.get("x", 0) + g.get("w", 0) > 24 or g.get("w", 0) <= 0 or g.get("h", 0) <= 0:
                overlap.append(f"{q.get('title')}: {g}")
            for x in range(g.get("x", 0), g.get("x", 0) + g.get("w", 0)):
                for y in range(g.get("y", 0), g.get("y", 0) + g.get("h", 0)):
                    if (x, y) in cells:
                        overlap.append(f"{q.get('title')} at {x},{y}")
                    cells.add((x, y))
        if p.get("type") == "row":
            current = p.get("title")
            under[current] = list(p.get("panels", []))
        elif current:
            under[current].append(p)
    check("every row has panels", all(under.get(r) for r in ROWS), str({r: len(under.get(r, [])) for r in ROWS}))
    check("panel ids unique, grid inside 24 columns, no overlap", len(ids) == len(set(ids)) and not overlap,
          str(overlap[:5]))
    registered = registered_metrics()
    conflicts = {n: e["conflict"] for n, e in registered.items() if "conflict" in e}
    check(f"{len(registered)} metrics registered in the Rust sources, each with one kind", registered and not conflicts,
          str(conflicts))
    used: set[str] = set()
    problems: dict[str, list[str]] = {k: [] for k in
                                      ("parse", "unknown", "datasource", "unit", "filter", "labels", "rate", "legend")}
    for title, panel, target in dashboard_exprs(dash):
        if panel.get("type") == "row":
            continue
        expr = target.get("expr", "")
        if panel.get("datasource") != ds_ref or target.get("datasource", ds_ref) != ds_ref:
            problems["datasource"].append(title)
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        if unit not in UNITS_OK:
            problems["unit"].append(f"{title}: {unit}")
        try:
            ast = promql(expr)
        except Exception as e:  # promql_parser raises ValueError with the parser's message
            problems["parse"].append(f"{title}: {e}: {expr}")
            continue
        facts = expr_facts(ast, registered)
        for name in facts["series"]:
            used.add(name)
            base = series_base(name, registered)
            if base is None:
                problems["unknown"].append(f"{title}: {name}")
                continue
            kind = registered[base]["kind"]
            if (kind == "counter" or kind == "histogram") and name not in facts["rated"]:
                problems["rate"].append(f"{title}: {name} ({kind}) outside rate()/increase()")
            if kind == "gauge" and name in facts["rated"] and name not in RATE_OF_GAUGE:
                problems["rate"].append(f"{title}: rate() of the gauge {name}")
        for name, matchers in facts["matchers"]:
            have = {m[0] for m in matchers}
            if not {"job", "instance"} <= have:
                problems["filter"].append(f"{title}: {name} without job=~\"$job\", instance=~\"$instance\"")
            base = series_base(name, registered)
            if base:
                known = registered[base]["labels"] | TARGET_LABELS | ({"le"} if name.endswith("_bucket") else set())
                unknown = have - known
                if unknown:
                    problems["labels"].append(f"{title}: {name}{{{', '.join(sorted(unknown))}}}")
        for labels in facts["quantile"]:
            if "le" not in labels:
                problems["labels"].append(f"{title}: histogram_quantile of a vector without `le` ({sorted(labels)})")
        for labels, available in facts["grouping"]:
            if not labels <= available:
                problems["labels"].append(f"{title}: by/on/ignoring {sorted(labels - available)} not on {sorted(available)}")
        legend = set(re.findall(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}", target.get("legendFormat", "")))
        if not legend <= facts["out"]:
            problems["legend"].append(f"{title}: legend {sorted(legend - facts['out'])} not in the result's "
                                      f"labels {sorted(facts['out'])}")
    n = len([1 for _, p, _ in dashboard_exprs(dash) if p.get("type") != "row"])
    check(f"{n} queries are valid PromQL (Grafana's $__rate_interval as 1m)", not problems["parse"],
          "\n        ".join(problems["parse"]))
    check("every metric a query uses is registered in the Rust sources (histograms: _bucket/_sum/_count)",
          not problems["unknown"], "\n        ".join(problems["unknown"]))
    unused = sorted(n for n in registered if not any(series_base(u, registered) == n for u in used))
    check("every registered metric is on the dashboard", not unused, str(unused))
    check("counters and histograms only inside rate()/increase(); no rate() of a gauge "
          f"(but {', '.join(sorted(RATE_OF_GAUGE))})", not problems["rate"], "\n        ".join(problems["rate"]))
    check("every selector filters on job=~\"$job\" and instance=~\"$instance\"", not problems["filter"],
          "\n        ".join(problems["filter"][:8]))
    check("label names in matchers, by() and on()/ignoring() are the metrics' own; "
          "histogram_quantile keeps `le`", not problems["labels"],
          "\n        ".join(problems["labels"]))
    check("legends name only labels the query's result has", not problems["legend"],
          "\n        ".join(problems["legend"]))
    check("panels use ${DS_PROMETHEUS}", not problems["datasource"], str(problems["datasource"]))
    check(f"every panel has a unit ({', '.join(sorted(UNITS_OK))})", not problems["unit"], str(problems["unit"]))
    # The units the brief of each kind of panel needs.
    by_title = {p.get("title"): p for rows_ in under.values() for p in rows_}
    want_units = {"Forwarded packets/s": "pps", "Forwarded bit rate": "bps", "Worker busy ratio": "percentunit",
                  "Latency p50 / p95 / p99": "s", "5xx ratio": "percentunit", "Resident memory": "bytes",
                  "Oldest pending delivery": "s", "Dropped packets/s": "pps"}
    wrong = {t: by_title.get(t, {}).get("fieldConfig", {}).get("defaults", {}).get("unit") for t in want_units}
    check("units: packets pps, bits bps, durations s, memory bytes, ratios percentunit",
          all(wrong[t] == u for t, u in want_units.items()), str(wrong))
    stale = sorted(set(LAZY) - set(registered))
    check("the live check's LAZY list names registered metrics only", not stale, str(stale))
    return used


# ---------------------------------------------------------------- live ----

def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, token: str | None = None, body: dict | None = None) -> tuple[int, str]:
    import urllib.error
    import urllib.request
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except OSError as e:
        return 0, str(e)


def die_with_parent() -> None:
    """In the child: SIGTERM when this checker dies, however it dies."""
    import ctypes
    import signal
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def check_live(used: set[str]) -> None:
    """A real `onair dev` with --metrics-listen: what the dashboard reads is there."""
    import time
    from prometheus_client.parser import text_string_to_metric_families
    section(f"live: {Path(ONAIR_BIN).name} dev --metrics-listen, scraped and parsed with prometheus_client")
    registered = registered_metrics()
    http_port, metrics_port = free_port(), free_port()
    while metrics_port == http_port:
        metrics_port = free_port()
    base, scrape = f"http://127.0.0.1:{http_port}", f"http://127.0.0.1:{metrics_port}"
    with tempfile.TemporaryDirectory() as data, open(Path(data) / "server.log", "w+") as log:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RUST_LOG": "warn", "RUST_BACKTRACE": "0",
               "HOME": data}
        proc = subprocess.Popen([ONAIR_BIN, "dev", "--data-dir", data, "--listen", f"127.0.0.1:{http_port}",
                                 "--rtc-udp", "127.0.0.1:0", "--rtmp-listen", "127.0.0.1:0",
                                 "--metrics-listen", f"127.0.0.1:{metrics_port}"],
                                cwd=data, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=die_with_parent)
        try:
            deadline = time.monotonic() + 30
            status = 0
            while time.monotonic() < deadline and proc.poll() is None:
                status, _ = http("GET", f"{base}/healthz")
                if status == 200:
                    break
                time.sleep(0.1)
            log.seek(0)
            if not check(f"onair dev answers /healthz on 127.0.0.1:{http_port}", status == 200,
                         f"status {status}, exit {proc.poll()}: {log.read()[-1500:]}"):
                return
            token = subprocess.run([ONAIR_BIN, "token", "server", "--data-dir", data], capture_output=True,
                                   text=True, env=env, timeout=30).stdout.strip()
            # One REST request (it registers the request histogram's first series); a webhook
            # endpoint makes the store report its backlog (never delivered to: no event follows).
            status, body = http("PUT", f"{base}/v1/webhooks", token,
                                {"webhooks": [{"url": "http://127.0.0.1:9/onair-deploy-test", "events": ["call.ended"]}]})
            check("REST request with a server token (PUT /v1/webhooks) answers 200", status == 200, f"{status} {body[:300]}")
            status, body = http("GET", f"{scrape}/metrics")
            check(f"/metrics on the metrics port ({metrics_port}) answers 200 without a token", status == 200,
                  f"{status} {body[:300]}")
            try:
                families = list(text_string_to_metric_families(body))
            except Exception as e:
                check("/metrics parses as Prometheus text (prometheus_client)", False, f"{type(e).__name__}: {e}")
                return
            samples = {s.name for f in families for s in f.samples}
            types = {f.name: f.type for f in families}
            check(f"/metrics parses as Prometheus text (prometheus_client): {len(families)} families, "
                  f"{sum(len(f.samples) for f in families)} samples", bool(families))
            wrong_type = []
            for name, entry in registered.items():
                family = name.removesuffix("_total") if entry["kind"] == "counter" else name
                if family in types and types[family] != entry["kind"]:
                    wrong_type.append(f"{name}: {types[family]} (the source says {entry['kind']})")
            check("each scraped metric has the type its source registers", not wrong_type, str(wrong_type))
            missing = sorted(n for n in used if n not in samples and series_base(n, registered) not in LAZY)
            check(f"every eagerly registered metric the dashboard uses is scraped "
                  f"({len([n for n in used if series_base(n, registered) not in LAZY])}; "
                  f"lazily registered, not asked for: {', '.join(sorted(LAZY))})",
                  not missing, f"missing: {missing}")
            early = sorted(n for n in LAZY if any(series_base(s, registered) == n for s in samples))
            if early:
                notes.append(f"listed as lazy but scraped at start (move them out of LAZY?): {early}")
            status, _ = http("GET", f"{scrape}/v1/webhooks", token)
            check("the metrics port serves /metrics only (/v1/webhooks: 404)", status == 404, str(status))
            status, body = http("GET", f"{base}/metrics")
            check("/metrics on the main port without a token: 401", status == 401, f"{status} {body[:200]}")
            status, body = http("GET", f"{base}/metrics", "not-a-token")
            check("/metrics on the main port with a bad token: 401", status == 401, f"{status} {body[:200]}")
            status, body = http("GET", f"{base}/metrics", token)
            check("/metrics on the main port with a server token (onair token server): 200, the same metrics",
                  status == 200 and "onair_process_cpu_seconds" in body, f"{status} {body[:200]}")
            status, body = http("GET", f"{base}/readyz")
            check("/readyz answers 200", status == 200, f"{status} {body[:200]}")
            check("onair dev still running", proc.poll() is None, f"exit {proc.poll()}")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def binary_knows_drain_timeout() -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "onair.toml"
        path.write_text('drain_timeout = "1s"\n')
        proc = subprocess.run([ONAIR_BIN, "serve", "--config", str(path), "--check-config"], capture_output=True,
                              text=True, env={"ONAIR_API_KEY": "k", "ONAIR_API_SECRET": secret_hex(),
                                              "RUST_BACKTRACE": "0", "PATH": "/usr/bin:/bin"}, timeout=60)
    return proc.returncode == 0


def main() -> int:
    global STRIP_DRAIN
    if not ONAIR_BIN or not os.access(ONAIR_BIN, os.X_OK):
        print(f"deploy/test.sh: ONAIR_BIN ({ONAIR_BIN!r}) is not an executable onair binary", file=sys.stderr)
        return 2
    if not binary_knows_drain_timeout():
        if re.search(r"pub drain_timeout\b", (REPO / "src" / "config.rs").read_text()):
            STRIP_DRAIN = True
            notes.append(f"{ONAIR_BIN} predates drain_timeout (src/config.rs has it): "
                         "configs were checked without their drain_timeout line; rebuild it for the full check")
    # A SIGTERM (or ^C) still runs the `finally` that stops the live server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    used: set[str] = set()

    def check_dashboard_json() -> None:
        used.update(check_dashboard())

    def check_live_metrics() -> None:
        check_live(used)

    for step in (check_production_and_systemd, check_compose, check_helm, check_dashboard_json, check_live_metrics):
        try:
            step()
        except Exception as e:  # a check that crashes is a failed check, with its reason
            import traceback
            traceback.print_exc()
            check(f"{step.__name__} ran to the end", False, f"{type(e).__name__}: {e}")
    for note in notes:
        print(f"  note  {note}")
    print(f"\ndeploy: {len(passed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
