//! The Kubernetes manifests under `deploy/`, as a cluster would get them: every kustomization
//! renders with `kubectl kustomize`; every object validates against the Kubernetes OpenAPI
//! schemas (`kubernetes-validate`, strict), and the custom resources (Knative `Trigger`,
//! `ServiceMonitor`, `PrometheusRule`) carry the fields their CRDs require; and every port, path,
//! environment variable and configuration the manifests give the daemon is one the binary really
//! has, read from the rendered YAML and checked against a freshly started daemon.
//!
//! Needs `kubectl` (with its built-in kustomize) and `python3 -m pip install kubernetes-validate`
//! (`.ci/run` installs it).

#[path = "support/fresh_daemon.rs"]
mod fresh_daemon;
#[path = "support/manifests.rs"]
mod manifests;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use fresh_daemon::Fresh;
use manifests::{DEPLOYMENTS, KUSTOMIZATIONS, all, one, render, text};
use serde_json::Value;

/// Kinds whose schemas are not in Kubernetes' OpenAPI document: their CRDs' required fields
/// are checked here instead.
const CUSTOM_KINDS: &[&str] = &["Trigger", "ServiceMonitor", "PrometheusRule"];
/// Environment variables that set configuration keys (the loader refuses unknown ones).
const PREFIX: &str = "ORCHESTRATOR_PROVIDER__";
/// The Kubernetes release the schemas are taken from (OpenShift 4.17 runs 1.30).
const KUBERNETES: &str = "1.30";

#[test]
fn every_kustomization_renders_and_every_object_validates_strictly() {
    let script = format!(
        r#"
import json, sys
try:
    import kubernetes_validate
except ImportError:
    sys.exit("kubernetes-validate is not installed: python3 -m pip install kubernetes-validate")
failed = 0
for line in sys.stdin:
    obj = json.loads(line)
    where = "%s/%s %s" % (obj.get("kind"), obj["metadata"].get("name"), obj.pop("_from"))
    try:
        kubernetes_validate.validate(obj, "{KUBERNETES}", strict=True)
    except kubernetes_validate.ValidationError as e:
        failed += 1
        print("%s: %s at %s" % (where, e.message, "/".join(str(p) for p in e.path)))
    except Exception as e:
        failed += 1
        print("%s: %s" % (where, e))
sys.exit(1 if failed else 0)
"#
    );
    let mut lines = String::new();
    let mut kinds = BTreeMap::new();
    for dir in KUSTOMIZATIONS {
        let objects = render(dir);
        assert!(!objects.is_empty(), "deploy/{dir} renders nothing");
        for object in objects {
            let kind = text(&object, "/kind").to_owned();
            *kinds.entry(kind.clone()).or_insert(0) += 1;
            if CUSTOM_KINDS.contains(&kind.as_str()) {
                check_custom_resource(dir, &object);
                continue;
            }
            let mut object = object;
            object["_from"] = Value::String(format!("(deploy/{dir})"));
            lines.push_str(&serde_json::to_string(&object).unwrap());
            lines.push('\n');
        }
    }
    let mut python = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    python
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let out = python.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubernetes-validate {KUBERNETES}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // What is deployed at all, so that a kind dropped by mistake shows.
    for kind in [
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Deployment",
        "Service",
        "NetworkPolicy",
        "Trigger",
        "ServiceMonitor",
        "PrometheusRule",
    ] {
        assert!(kinds.contains_key(kind), "no {kind} in deploy/: {kinds:?}");
    }
}

/// The fields the CRDs require (and the daemon needs) of the custom resources.
fn check_custom_resource(dir: &str, object: &Value) {
    let name = format!("{} in deploy/{dir}", object["metadata"]["name"]);
    let nonempty = |pointer: &str| {
        let v = object.pointer(pointer);
        assert!(
            v.is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty())
                || v.as_array().is_some_and(|a| !a.is_empty())
                || v.as_object().is_some_and(|o| !o.is_empty())),
            "{name}: {pointer} is required"
        );
    };
    match object["kind"].as_str().unwrap() {
        "Trigger" => {
            assert_eq!(object["apiVersion"], "eventing.knative.dev/v1", "{name}");
            // A Trigger and its Broker share a namespace.
            nonempty("/metadata/namespace");
            nonempty("/spec/broker");
            let subscriber = &object["spec"]["subscriber"];
            assert!(
                subscriber["uri"].is_string() || subscriber["ref"].is_object(),
                "{name}: spec.subscriber needs a uri or a ref"
            );
            for (attribute, value) in object["spec"]["filter"]["attributes"]
                .as_object()
                .unwrap_or_else(|| panic!("{name}: spec.filter.attributes is required here"))
            {
                assert!(
                    value.is_string(),
                    "{name}: filter {attribute} is not a string"
                );
            }
        }
        "ServiceMonitor" => {
            assert_eq!(object["apiVersion"], "monitoring.coreos.com/v1", "{name}");
            nonempty("/spec/selector/matchLabels");
            nonempty("/spec/endpoints");
            for endpoint in object["spec"]["endpoints"].as_array().unwrap() {
                assert!(
                    endpoint["port"].is_string(),
                    "{name}: endpoint without port"
                );
                assert!(
                    endpoint["path"].is_string(),
                    "{name}: endpoint without path"
                );
            }
        }
        "PrometheusRule" => {
            assert_eq!(object["apiVersion"], "monitoring.coreos.com/v1", "{name}");
            nonempty("/spec/groups");
            let mut names = Vec::new();
            for group in object["spec"]["groups"].as_array().unwrap() {
                let group_name = group["name"].as_str().expect("groups[].name is required");
                assert!(
                    !names.contains(&group_name),
                    "{name}: group {group_name} twice"
                );
                names.push(group_name);
                for rule in group["rules"].as_array().expect("groups[].rules") {
                    assert!(
                        rule["alert"].is_string() || rule["record"].is_string(),
                        "{name}: a rule needs alert or record: {rule}"
                    );
                    assert!(rule["expr"].is_string(), "{name}: rules[].expr is required");
                    if let Some(duration) = rule.get("for") {
                        let d = duration.as_str().expect("`for` is a duration string");
                        assert!(
                            d.trim_end_matches(['s', 'm', 'h']).parse::<u32>().is_ok(),
                            "{name}: `for: {d}` is not a duration"
                        );
                    }
                }
            }
        }
        other => unreachable!("{other}"),
    }
}

/// What one deployment gives the daemon, read from its rendered objects.
struct Deployed {
    objects: Vec<Value>,
    /// The configuration file the ConfigMap holds, written to a temp file.
    config_file: tempfile::NamedTempFile,
    config: Value,
    /// Named container ports.
    ports: BTreeMap<String, u64>,
    /// Every environment variable the container gets (values are references, not secrets).
    env: Vec<String>,
}

fn deployed(dir: &str) -> Deployed {
    let objects = render(dir);
    let deployment = one(&objects, "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1, "{dir}: one container");
    let container = &containers[0];
    // The command reads the config file where the ConfigMap is mounted.
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[..2], ["run", "--config"], "{dir}: {args:?}");
    let config_map = one(&objects, "ConfigMap");
    let config_map_name = text(config_map, "/metadata/name");
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["configMap"]["name"] == config_map_name)
        .unwrap_or_else(|| panic!("{dir}: no volume of ConfigMap {config_map_name}"));
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == volume["name"])
        .unwrap_or_else(|| panic!("{dir}: the ConfigMap's volume is not mounted"));
    let (key, file) = config_map["data"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    assert_eq!(
        args[2],
        format!("{}/{key}", text(mount, "/mountPath")),
        "{dir}: --config is not the ConfigMap's file"
    );
    let file = file.as_str().unwrap();
    let mut config_file = tempfile::NamedTempFile::new().unwrap();
    config_file.write_all(file.as_bytes()).unwrap();
    let config: Value = serde_saphyr::from_str(file).unwrap();
    let ports = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                text(p, "/name").to_owned(),
                p["containerPort"].as_u64().unwrap(),
            )
        })
        .collect();
    let env = container["env"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|e| {
                    let name = text(e, "/name");
                    // A literal value only for a configuration key; secrets by reference only.
                    if e.get("value").is_some() {
                        assert!(
                            name.starts_with(PREFIX),
                            "{dir}: {name} has a literal value"
                        );
                    } else {
                        text(e, "/valueFrom/secretKeyRef/name");
                        text(e, "/valueFrom/secretKeyRef/key");
                    }
                    name.to_owned()
                })
                .collect()
        })
        .unwrap_or_default();
    Deployed {
        objects,
        config_file,
        config,
        ports,
        env,
    }
}

/// A port reference (a name or a number) resolved against the container's named ports.
fn resolve(ports: &BTreeMap<String, u64>, port: &Value, what: &str) -> u64 {
    match port {
        Value::String(name) => *ports
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no container port named {name}")),
        Value::Number(n) => n.as_u64().unwrap(),
        other => panic!("{what}: port {other}"),
    }
}

/// The Triggers of `triggers-definition-events.yaml`.
fn definition_trigger_names() -> Vec<String> {
    let file = std::fs::read_to_string(
        manifests::deploy_dir().join("overlays/rhdh-sonataflow/triggers-definition-events.yaml"),
    )
    .unwrap();
    let names: Vec<String> = serde_saphyr::from_multiple::<Value>(&file)
        .unwrap()
        .iter()
        .map(|t| text(t, "/metadata/name").to_owned())
        .collect();
    assert!(!names.is_empty());
    names
}

/// `cloudevents_total{outcome="accepted"}`: definition events the daemon acted on.
fn accepted_events(daemon: &Fresh) -> u64 {
    let line = r#"orchestrator_provider_cloudevents_total{outcome="accepted"} "#;
    daemon
        .metrics()
        .lines()
        .find_map(|l| l.strip_prefix(line)?.parse().ok())
        .expect("the accepted events counter exists from the start")
}

/// Dummy values for the environment: the names are what matters.
fn env_of(names: &[String]) -> Vec<(String, String)> {
    names
        .iter()
        .map(|n| (n.clone(), format!("test-value-of-{n}")))
        .collect()
}

#[test]
fn ports_paths_and_configuration_of_every_deployment_are_the_daemons() {
    let service_monitor = one(&render("monitoring"), "ServiceMonitor").clone();
    for dir in DEPLOYMENTS {
        let d = deployed(dir);
        let service = one(&d.objects, "Service");
        let deployment = one(&d.objects, "Deployment");
        let pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
            .as_object()
            .unwrap();
        let namespace = text(deployment, "/metadata/namespace");

        // The daemon listens where the container port says.
        let listen = text(&d.config, "/server/listen");
        let listen_port: u64 = listen.rsplit(':').next().unwrap().parse().unwrap();
        assert!(listen.starts_with("0.0.0.0:"), "{dir}: listens on {listen}");
        assert_eq!(d.ports.get("http"), Some(&listen_port), "{dir}: {listen}");

        // The Service reaches that port, and selects this pod.
        let service_ports = service["spec"]["ports"].as_array().unwrap();
        assert_eq!(service_ports.len(), 1, "{dir}");
        let service_port = &service_ports[0];
        assert_eq!(
            resolve(&d.ports, &service_port["targetPort"], "Service"),
            listen_port
        );
        for (k, v) in service["spec"]["selector"].as_object().unwrap() {
            assert_eq!(pod_labels.get(k), Some(v), "{dir}: Service selector {k}");
        }
        // Backstage reads the shards through the Service.
        let service_url = format!(
            "http://{}.{namespace}.svc:{}",
            text(service, "/metadata/name"),
            service_port["port"]
        );
        assert_eq!(
            text(&d.config, "/server/publicBaseUrl"),
            service_url,
            "{dir}: server.publicBaseUrl is not the Service"
        );

        // The NetworkPolicy opens that port to this pod.
        let policy = one(&d.objects, "NetworkPolicy");
        for (k, v) in policy["spec"]["podSelector"]["matchLabels"]
            .as_object()
            .unwrap()
        {
            assert_eq!(
                pod_labels.get(k),
                Some(v),
                "{dir}: NetworkPolicy selects {k}"
            );
        }
        for rule in policy["spec"]["ingress"].as_array().unwrap() {
            for port in rule["ports"].as_array().unwrap() {
                assert_eq!(
                    resolve(&d.ports, &port["port"], "NetworkPolicy"),
                    listen_port
                );
            }
        }

        // The ServiceMonitor scrapes this Service's port.
        assert_eq!(
            service_monitor["spec"]["endpoints"][0]["port"], service_port["name"],
            "the ServiceMonitor's port is not the Service's"
        );
        let service_labels = service["metadata"]["labels"].as_object().unwrap();
        for (k, v) in service_monitor["spec"]["selector"]["matchLabels"]
            .as_object()
            .unwrap()
        {
            assert_eq!(
                service_labels.get(k),
                Some(v),
                "ServiceMonitor selector {k}"
            );
        }

        // The ConfigMap's configuration, with the Deployment's environment, starts the daemon:
        // it passes the daemon's own validation and every secret it names is set.
        let daemon = Fresh::start(d.config_file.path(), &env_of(&d.env));
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        for probe in ["livenessProbe", "readinessProbe"] {
            let get = &container[probe]["httpGet"];
            assert_eq!(
                resolve(&d.ports, &get["port"], probe),
                listen_port,
                "{dir}: {probe}"
            );
            let path = text(get, "/path");
            let (status, body) = daemon.get(path).expect(path);
            // Ready waits for the catalog, which is not there: the route answers all the same.
            let expected: &[u16] = if probe == "livenessProbe" {
                &[200]
            } else {
                &[200, 503]
            };
            assert!(
                expected.contains(&status),
                "{dir}: {probe} {path}: {status} {body}"
            );
        }
        let metrics_path = text(&service_monitor, "/spec/endpoints/0/path");
        assert_eq!(daemon.get(metrics_path).map(|(s, _)| s), Some(200));

        // Each Trigger delivers to the Service's /events; those of
        // triggers-definition-events.yaml deliver a type the daemon reads as a definition event
        // (the instance events' Triggers: tests/deploy_workflow_monitoring.rs).
        let definition_triggers = definition_trigger_names();
        for trigger in all(&d.objects, "Trigger") {
            let uri = text(trigger, "/spec/subscriber/uri");
            let path = uri
                .strip_prefix(&service_url)
                .unwrap_or_else(|| panic!("{dir}: {uri} is not on the Service {service_url}"));
            let event_type = text(trigger, "/spec/filter/attributes/type");
            if !definition_triggers.contains(&text(trigger, "/metadata/name").to_owned()) {
                let (status, body) = daemon.request("POST", path, &[], "").expect(path);
                assert!(
                    ![404, 405].contains(&status),
                    "{dir}: no POST {path}: {status} {body}"
                );
                continue;
            }
            let before = accepted_events(&daemon);
            let id = format!("deploy-test-{event_type}");
            // A broker delivers in binary mode.
            let (status, body) = daemon
                .request(
                    "POST",
                    path,
                    &[
                        ("ce-specversion", "1.0"),
                        ("ce-id", &id),
                        ("ce-source", "/deploy/test"),
                        ("ce-type", event_type),
                        ("content-type", "application/json"),
                    ],
                    r#"{"id": "hello-world"}"#,
                )
                .expect(path);
            assert_eq!(status, 202, "{dir}: {event_type} to {path}: {body}");
            assert_eq!(
                accepted_events(&daemon),
                before + 1,
                "{dir}: {event_type} was not read as a definition event"
            );
        }
        drop(daemon);

        // Every variable the Deployment sets is one the configuration reads: a configuration
        // key the loader knows (it refuses unknown ones: the start above), or a secret the
        // configuration names, without which the daemon refuses to start and says so.
        for name in d.env.iter().filter(|n| !n.starts_with(PREFIX)) {
            let fewer: Vec<String> = d.env.iter().filter(|n| *n != name).cloned().collect();
            match Fresh::try_start(d.config_file.path(), &env_of(&fewer)) {
                Ok(_) => panic!("{dir}: the daemon starts without {name}: nothing reads it"),
                Err(e) => {
                    assert_eq!(
                        e.status.code(),
                        Some(2),
                        "{dir}: without {name}: {}",
                        e.stderr
                    );
                    assert!(e.stderr.contains(name.as_str()), "{dir}: {}", e.stderr);
                }
            }
        }
    }
}

/// `deploy/backstage/app-config.yaml`, as YAML.
fn backstage_snippet() -> Value {
    let path = manifests::deploy_dir().join("backstage/app-config.yaml");
    serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What a cluster gets of a Backstage configuration value unless it sets the variables:
/// every `${VAR:-default}` replaced by its default.
fn defaults_of(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let end = start + rest[start..].find('}').expect("unclosed ${");
        let (_, default) = rest[start + 2..end]
            .split_once(":-")
            .unwrap_or_else(|| panic!("{value}: ${{...}} without a default"));
        out.push_str(&rest[..start]);
        out.push_str(default);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_backstage_snippet_allows_reading_the_daemons_public_url() {
    let snippet = backstage_snippet();
    let allowed = defaults_of(text(&snippet, "/backend/reading/allow/0/host"));
    for dir in DEPLOYMENTS {
        let d = deployed(dir);
        let public = text(&d.config, "/server/publicBaseUrl");
        assert_eq!(
            public.strip_prefix("http://"),
            Some(allowed.as_str()),
            "{dir}: backend.reading.allow does not name {public}"
        );
    }
}

#[test]
fn the_overlays_link_diagrams_to_the_snippets_proxy_route_which_reaches_only_the_daemons_diagrams()
{
    let snippet = backstage_snippet();
    let endpoints = snippet
        .pointer("/proxy/endpoints")
        .and_then(Value::as_object)
        .expect("deploy/backstage/app-config.yaml has no proxy.endpoints");
    assert_eq!(endpoints.len(), 1, "one route: {endpoints:?}");
    let (route, endpoint) = endpoints.iter().next().unwrap();
    // The proxy forwards `/api/proxy<route>/<rest>` to `<target>/<rest>`: the route and the
    // target both end in the daemon's diagram path, so nothing else of the daemon is reached.
    assert!(route.ends_with("/diagrams"), "{route}");
    let target = text(endpoint, "/target");
    assert!(
        target.contains("${ORCHESTRATOR_PROVIDER_HOST:-"),
        "the proxy target must take the daemon's host from where backend.reading.allow does: {target}"
    );
    assert_eq!(endpoint["allowedMethods"], serde_json::json!(["GET"]));
    assert_eq!(
        text(endpoint, "/credentials"),
        "dangerously-allow-unauthenticated",
        "a link opened in a browser tab carries no Backstage token"
    );
    let mut overlays = 0;
    for dir in DEPLOYMENTS {
        let d = deployed(dir);
        let public = text(&d.config, "/server/publicBaseUrl");
        assert_eq!(
            defaults_of(target),
            format!("{public}/diagrams"),
            "{dir}: the proxy route does not reach the daemon's Service"
        );
        if !dir.starts_with("overlays/") {
            continue;
        }
        overlays += 1;
        // Links read `<diagrams.baseUrl>/diagrams/<name>.svg`.
        let base = text(&d.config, "/diagrams/baseUrl");
        assert!(
            format!("{base}/diagrams").ends_with(&format!("/api/proxy{route}")),
            "{dir}: diagrams.baseUrl {base} is not the proxy route {route}"
        );
    }
    assert!(overlays >= 2);
}
