//! The deployment files, checked without Docker or a cluster: the compose file, every
//! Kubernetes manifest and every Grafana dashboard parse, and they hold the properties an
//! operator relies on. Above all, no dashboard queries a metric that no service exports: the
//! exported names are read from the services' code itself.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize as _;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

/// The four services that own a schema; each has a `migrate` step before it serves.
const SERVICES: [&str; 4] = ["eligibility", "checkin", "payroll", "transfer"];

/// Long-running compose services without an HTTP `/health` to check yet.
const WITHOUT_HEALTH_ENDPOINT: [&str; 1] = ["bank-simulator"];

/// Series a dashboard may query that no service exports: Prometheus writes them per target.
const PROMETHEUS_OWN_SERIES: [&str; 1] = ["up"];

/// Metrics the operations overview is built on; the code scan must find each of them, so a
/// scan that silently finds nothing cannot make the dashboard check pass.
const CORE_METRICS: [&str; 3] = [
    "consumer_messages_total",
    "outbox_published_total",
    "outbox_relay_failures_total",
];

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn deploy() -> PathBuf {
    repository().join("deploy")
}

/// `path` relative to the repository, for messages.
fn shown(path: &Path) -> String {
    path.strip_prefix(repository())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", shown(path)))
}

/// Every file under `dir` (recursively) whose name ends with one of `extensions`, sorted.
fn files_under(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in
            fs::read_dir(&current).with_context(|| format!("listing {}", current.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .and_then(|extension| extension.to_str())
                .is_some_and(|extension| extensions.contains(&extension))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Resolves YAML merge keys (`<<: *anchor`), including merges nested in merged mappings.
fn resolve_merges(mut value: Yaml) -> Result<Yaml> {
    for _ in 0..8 {
        if !has_merge_key(&value) {
            return Ok(value);
        }
        value.apply_merge()?;
    }
    bail!("merge keys nested too deeply")
}

fn has_merge_key(value: &Yaml) -> bool {
    match value {
        Yaml::Mapping(mapping) => mapping.contains_key("<<") || mapping.values().any(has_merge_key),
        Yaml::Sequence(sequence) => sequence.iter().any(has_merge_key),
        Yaml::Tagged(tagged) => has_merge_key(&tagged.value),
        _ => false,
    }
}

/// Every document of a YAML file; empty documents (a trailing `---`) are skipped.
fn yaml_documents(path: &Path) -> Result<Vec<Yaml>> {
    let text = read(path)?;
    let mut documents = Vec::new();
    for document in serde_yaml::Deserializer::from_str(&text) {
        let value =
            Yaml::deserialize(document).with_context(|| format!("parsing {}", shown(path)))?;
        if !value.is_null() {
            documents.push(resolve_merges(value)?);
        }
    }
    Ok(documents)
}

fn compose() -> Result<Yaml> {
    let path = deploy().join("compose.yaml");
    let mut documents = yaml_documents(&path)?;
    ensure!(documents.len() == 1, "compose.yaml holds one document");
    Ok(documents.remove(0))
}

fn compose_services(compose: &Yaml) -> Result<BTreeMap<String, Yaml>> {
    let services = compose
        .get("services")
        .and_then(Yaml::as_mapping)
        .context("compose.yaml has a services mapping")?;
    let mut named = BTreeMap::new();
    for (name, service) in services {
        let name = name.as_str().context("service names are strings")?;
        named.insert(name.to_owned(), service.clone());
    }
    Ok(named)
}

fn str_at<'a>(value: &'a Yaml, path: &[&str]) -> Option<&'a str> {
    let mut current = value;
    for key in path {
        current = current.get(*key)?;
    }
    current.as_str()
}

/// The command of a compose service as a list of words.
fn command(service: &Yaml) -> Vec<String> {
    match service.get("command") {
        Some(Yaml::Sequence(words)) => words
            .iter()
            .filter_map(|word| word.as_str().map(str::to_owned))
            .collect(),
        Some(Yaml::String(line)) => line.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

fn uses_benefit_image(service: &Yaml) -> bool {
    service
        .get("build")
        .and_then(|build| build.get("dockerfile"))
        .and_then(Yaml::as_str)
        == Some("deploy/Dockerfile")
}

fn is_one_shot(service: &Yaml) -> bool {
    service.get("restart").and_then(Yaml::as_str) == Some("no")
}

/// The condition under which `service` waits for `dependency`, if it does.
fn dependency_condition<'a>(service: &'a Yaml, dependency: &str) -> Option<&'a str> {
    service
        .get("depends_on")?
        .get(dependency)?
        .get("condition")?
        .as_str()
}

/// The environment of a compose service, in either of compose's two spellings.
fn environment(service: &Yaml) -> BTreeMap<String, String> {
    let mut variables = BTreeMap::new();
    match service.get("environment") {
        Some(Yaml::Mapping(mapping)) => {
            for (key, value) in mapping {
                let value = match value {
                    Yaml::String(text) => text.clone(),
                    Yaml::Number(number) => number.to_string(),
                    Yaml::Bool(flag) => flag.to_string(),
                    _ => String::new(),
                };
                if let Some(key) = key.as_str() {
                    variables.insert(key.to_owned(), value);
                }
            }
        }
        Some(Yaml::Sequence(entries)) => {
            for entry in entries.iter().filter_map(Yaml::as_str) {
                let (key, value) = entry.split_once('=').unwrap_or((entry, ""));
                variables.insert(key.to_owned(), value.to_owned());
            }
        }
        _ => {}
    }
    variables
}

/// The text of a compose health check's test, joined into one line.
fn health_check_line(service: &Yaml) -> Option<String> {
    match service.get("healthcheck")?.get("test")? {
        Yaml::Sequence(words) => Some(
            words
                .iter()
                .filter_map(Yaml::as_str)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Yaml::String(line) => Some(line.clone()),
        _ => None,
    }
}

/// The port of `http://host:PORT/health` in a service's health check.
fn health_port(service: &Yaml) -> Option<u16> {
    let line = health_check_line(service)?;
    let at = line.find("/health")?;
    let before = &line[..at];
    let port = before.rsplit(':').next()?;
    port.parse().ok()
}

#[test]
fn compose_runs_the_whole_system() -> Result<()> {
    let services = compose_services(&compose()?)?;

    for required in [
        "postgres",
        "kafka",
        "kafka-topics",
        "lgtm",
        "bank-simulator",
    ] {
        assert!(services.contains_key(required), "compose runs {required}");
    }
    for service in SERVICES {
        assert!(services.contains_key(service), "compose runs {service}");
        assert!(
            services.contains_key(&format!("{service}-migrate")),
            "compose migrates {service}"
        );
    }
    let kafka = &services["kafka"];
    assert!(
        str_at(kafka, &["image"]).is_some_and(|image| image.starts_with("apache/kafka:")),
        "Kafka is the official Apache image"
    );
    assert_eq!(
        environment(kafka)
            .get("KAFKA_PROCESS_ROLES")
            .map(String::as_str),
        Some("broker,controller"),
        "Kafka runs in KRaft mode without ZooKeeper"
    );
    assert!(
        str_at(&services["postgres"], &["image"])
            .is_some_and(|image| image.starts_with("postgres:15")),
        "PostgreSQL 15, as the local stack"
    );
    Ok(())
}

#[test]
fn every_long_running_service_has_a_health_check() -> Result<()> {
    let services = compose_services(&compose()?)?;
    for (name, service) in &services {
        if is_one_shot(service) || WITHOUT_HEALTH_ENDPOINT.contains(&name.as_str()) {
            continue;
        }
        let has_check = service
            .get("healthcheck")
            .and_then(|check| check.get("test"))
            .is_some()
            // The lgtm image declares its own HEALTHCHECK.
            || name == "lgtm";
        assert!(has_check, "{name} has a health check");
    }
    for service in SERVICES {
        let port = health_port(&services[service]);
        assert!(
            port.is_some(),
            "{service}'s health check asks its HTTP /health"
        );
        let published = services[service]
            .get("ports")
            .and_then(Yaml::as_sequence)
            .map(|ports| {
                ports
                    .iter()
                    .filter_map(Yaml::as_str)
                    .any(|mapping| port.is_some_and(|port| mapping.ends_with(&format!(":{port}"))))
            })
            .unwrap_or(false);
        assert!(published, "{service}'s HTTP port is published for /metrics");
    }
    Ok(())
}

#[test]
fn every_service_waits_for_its_own_migration_and_the_topics() -> Result<()> {
    let services = compose_services(&compose()?)?;
    for service in SERVICES {
        let migrate = &services[&format!("{service}-migrate")];
        assert_eq!(
            command(migrate),
            [service, "migrate"],
            "{service}-migrate runs `{service} migrate`"
        );
        assert!(is_one_shot(migrate), "{service}-migrate runs once");
        assert_eq!(
            dependency_condition(migrate, "postgres"),
            Some("service_healthy"),
            "{service}-migrate waits for PostgreSQL"
        );

        let running = &services[service];
        assert_eq!(command(running), [service], "{service} runs its own binary");
        assert_eq!(
            dependency_condition(running, &format!("{service}-migrate")),
            Some("service_completed_successfully"),
            "{service} starts only after its migration succeeded"
        );
        assert_eq!(
            dependency_condition(running, "kafka-topics"),
            Some("service_completed_successfully"),
            "{service} starts only after the topics exist"
        );
    }
    assert_eq!(
        dependency_condition(&services["bank-simulator"], "kafka-topics"),
        Some("service_completed_successfully"),
        "the bank simulator starts only after the topics exist"
    );
    Ok(())
}

#[test]
fn services_are_configured_under_their_own_prefix_and_export_spans() -> Result<()> {
    let services = compose_services(&compose()?)?;
    for (name, service) in &services {
        if !uses_benefit_image(service) {
            continue;
        }
        let binary = command(service).into_iter().next().context("a command")?;
        let prefix = format!("{}__", binary.replace('-', "_").to_ascii_uppercase());
        let variables = environment(service);
        for key in variables.keys() {
            if key.contains("__") {
                assert!(
                    key.starts_with(&prefix),
                    "{name}: {key} is read by {binary}"
                );
            }
        }
        assert_eq!(
            variables
                .get(&format!("{prefix}TELEMETRY__FORMAT"))
                .map(String::as_str),
            Some("json"),
            "{name} logs JSON lines"
        );
        if !is_one_shot(service) {
            assert!(
                variables
                    .get("OTEL_EXPORTER_OTLP_ENDPOINT")
                    .is_some_and(|endpoint| endpoint.ends_with(":4317")),
                "{name} exports spans over OTLP/gRPC"
            );
        }
    }
    Ok(())
}

#[test]
fn the_topic_job_creates_every_topic_and_its_dead_letter_topic() -> Result<()> {
    let services = compose_services(&compose()?)?;
    let job = &services["kafka-topics"];
    assert!(is_one_shot(job), "topics are created once");
    assert_eq!(dependency_condition(job, "kafka"), Some("service_healthy"));
    let mounts = bind_mounts(job);
    assert!(
        mounts
            .iter()
            .any(|(source, _)| source == "./local/topics.txt"),
        "the job reads the local stack's topic list"
    );
    let script = command(job).join(" ");
    assert!(script.contains("kafka-topics.sh") && script.contains(".dlq"));
    assert!(
        script.contains("--if-not-exists"),
        "running the job again is harmless"
    );
    Ok(())
}

/// The `./source:target` bind mounts of a compose service.
fn bind_mounts(service: &Yaml) -> Vec<(String, String)> {
    service
        .get("volumes")
        .and_then(Yaml::as_sequence)
        .map(|volumes| {
            volumes
                .iter()
                .filter_map(Yaml::as_str)
                .filter(|volume| volume.starts_with("./") || volume.starts_with("../"))
                .filter_map(|volume| {
                    let mut parts = volume.splitn(3, ':');
                    Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_file_compose_mounts_exists() -> Result<()> {
    let services = compose_services(&compose()?)?;
    let mut mounted = 0;
    for (name, service) in &services {
        for (source, _) in bind_mounts(service) {
            let path = deploy().join(&source);
            assert!(path.exists(), "{name} mounts {source}, which exists");
            mounted += 1;
        }
    }
    assert!(mounted >= 6, "the provisioning files are mounted");
    let postgres = bind_mounts(&services["postgres"]);
    assert!(
        postgres
            .iter()
            .any(|(source, target)| source == "./local/provision.sql"
                && target.starts_with("/docker-entrypoint-initdb.d/")),
        "PostgreSQL creates roles and schemas from the one provisioning script"
    );
    Ok(())
}

#[test]
fn prometheus_scrapes_every_service_on_its_http_port() -> Result<()> {
    let services = compose_services(&compose()?)?;
    let config = yaml_documents(&deploy().join("otel/prometheus.yaml"))?;
    let config = config.first().context("a Prometheus configuration")?;
    let mut targets = BTreeMap::new();
    for job in config
        .get("scrape_configs")
        .and_then(Yaml::as_sequence)
        .context("scrape_configs")?
    {
        for group in job
            .get("static_configs")
            .and_then(Yaml::as_sequence)
            .into_iter()
            .flatten()
        {
            let service = str_at(group, &["labels", "service"]).unwrap_or_default();
            for target in group
                .get("targets")
                .and_then(Yaml::as_sequence)
                .into_iter()
                .flatten()
                .filter_map(Yaml::as_str)
            {
                targets.insert(target.to_owned(), service.to_owned());
            }
        }
    }
    for service in SERVICES {
        let port = health_port(&services[service]).context("a health port")?;
        assert_eq!(
            targets
                .get(&format!("{service}:{port}"))
                .map(String::as_str),
            Some(service),
            "Prometheus scrapes {service}:{port} and labels it service={service}"
        );
    }
    Ok(())
}

/// Every Kubernetes object of the base, with the file it came from.
fn k8s_objects() -> Result<Vec<(PathBuf, Yaml)>> {
    let mut objects = Vec::new();
    for path in files_under(&deploy().join("k8s"), &["yaml", "yml"])? {
        if path.file_name().and_then(|name| name.to_str()) == Some("kustomization.yaml") {
            continue;
        }
        for document in yaml_documents(&path)? {
            objects.push((path.clone(), document));
        }
    }
    Ok(objects)
}

fn kind(object: &Yaml) -> &str {
    str_at(object, &["kind"]).unwrap_or_default()
}

fn name(object: &Yaml) -> &str {
    str_at(object, &["metadata", "name"]).unwrap_or_default()
}

#[test]
fn every_manifest_parses_and_the_kustomization_lists_them_all() -> Result<()> {
    let objects = k8s_objects()?;
    assert!(
        objects.len() >= 4 * SERVICES.len(),
        "the base holds the services' objects"
    );
    for (path, object) in &objects {
        assert!(
            str_at(object, &["apiVersion"]).is_some(),
            "{} has apiVersion",
            shown(path)
        );
        assert!(!kind(object).is_empty(), "{} has kind", shown(path));
        assert!(
            !name(object).is_empty(),
            "{} names its objects",
            shown(path)
        );
    }

    let kustomization = yaml_documents(&deploy().join("k8s/kustomization.yaml"))?;
    let kustomization = kustomization.first().context("a kustomization")?;
    let listed: BTreeSet<String> = kustomization
        .get("resources")
        .and_then(Yaml::as_sequence)
        .context("resources")?
        .iter()
        .filter_map(Yaml::as_str)
        .map(str::to_owned)
        .collect();
    let on_disk: BTreeSet<String> = objects
        .iter()
        .filter_map(|(path, _)| path.file_name()?.to_str().map(str::to_owned))
        .collect();
    assert_eq!(
        listed, on_disk,
        "kustomization.yaml lists exactly the manifests beside it"
    );
    assert_eq!(str_at(kustomization, &["namespace"]), Some("benefit"));
    Ok(())
}

fn containers<'a>(deployment: &'a Yaml, field: &str) -> Vec<&'a Yaml> {
    deployment
        .get("spec")
        .and_then(|spec| spec.get("template"))
        .and_then(|template| template.get("spec"))
        .and_then(|spec| spec.get(field))
        .and_then(Yaml::as_sequence)
        .map(|list| list.iter().collect())
        .unwrap_or_default()
}

fn container_port(container: &Yaml, port_name: &str) -> Option<u64> {
    container
        .get("ports")?
        .as_sequence()?
        .iter()
        .find(|port| str_at(port, &["name"]) == Some(port_name))?
        .get("containerPort")?
        .as_u64()
}

fn args(container: &Yaml) -> Vec<&str> {
    ["command", "args"]
        .iter()
        .filter_map(|field| container.get(*field).and_then(Yaml::as_sequence))
        .flatten()
        .filter_map(Yaml::as_str)
        .collect()
}

#[test]
fn every_deployment_has_probes_resources_and_a_migration() -> Result<()> {
    let objects = k8s_objects()?;
    let deployments: Vec<&Yaml> = objects
        .iter()
        .map(|(_, object)| object)
        .filter(|object| kind(object) == "Deployment")
        .collect();
    let names: BTreeSet<&str> = deployments
        .iter()
        .map(|deployment| name(deployment))
        .collect();
    assert_eq!(
        names,
        SERVICES.into_iter().collect::<BTreeSet<_>>(),
        "one Deployment per service"
    );

    for deployment in deployments {
        let service = name(deployment);
        let main = containers(deployment, "containers");
        assert!(!main.is_empty(), "{service} has a container");
        for container in containers(deployment, "containers")
            .into_iter()
            .chain(containers(deployment, "initContainers"))
        {
            for limit in ["cpu", "memory"] {
                for bound in ["limits", "requests"] {
                    assert!(
                        container
                            .get("resources")
                            .and_then(|r| r.get(bound))
                            .and_then(|b| b.get(limit))
                            .is_some(),
                        "{service}: every container sets resources.{bound}.{limit}"
                    );
                }
            }
        }
        for container in &main {
            let grpc = container_port(container, "grpc").context("a grpc port")?;
            let http = container_port(container, "http").context("an http port")?;
            let readiness = container
                .get("readinessProbe")
                .context("a readiness probe")?;
            assert_eq!(
                readiness
                    .get("grpc")
                    .and_then(|probe| probe.get("port"))
                    .and_then(Yaml::as_u64),
                Some(grpc),
                "{service} is ready when its gRPC health service says so"
            );
            let liveness = container.get("livenessProbe").context("a liveness probe")?;
            assert_eq!(
                str_at(liveness, &["httpGet", "path"]),
                Some("/health"),
                "{service} is alive while its HTTP /health answers"
            );
            assert_eq!(
                args(container).first().copied(),
                Some(service),
                "{service} runs its own binary"
            );
            let annotations = deployment
                .get("spec")
                .and_then(|spec| spec.get("template"))
                .and_then(|template| template.get("metadata"))
                .and_then(|metadata| metadata.get("annotations"))
                .context("pod annotations")?;
            assert_eq!(str_at(annotations, &["prometheus.io/scrape"]), Some("true"));
            assert_eq!(
                str_at(annotations, &["prometheus.io/port"]),
                Some(http.to_string().as_str()),
                "{service} is scraped on its HTTP port"
            );
        }
        let migrations: Vec<Vec<&str>> = containers(deployment, "initContainers")
            .into_iter()
            .map(args)
            .collect();
        assert!(
            migrations
                .iter()
                .any(|words| words.as_slice() == [service, "migrate"]),
            "{service} migrates before it starts"
        );
    }
    Ok(())
}

#[test]
fn every_deployment_has_a_service_a_disruption_budget_and_an_autoscaler() -> Result<()> {
    let objects = k8s_objects()?;
    let of_kind = |wanted: &str| -> Vec<&Yaml> {
        objects
            .iter()
            .map(|(_, object)| object)
            .filter(|object| kind(object) == wanted)
            .collect()
    };
    for deployment in of_kind("Deployment") {
        let service = name(deployment);
        let pod_labels = deployment
            .get("spec")
            .and_then(|spec| spec.get("template"))
            .and_then(|template| template.get("metadata"))
            .and_then(|metadata| metadata.get("labels"))
            .and_then(Yaml::as_mapping)
            .context("pod labels")?;
        let selects_pods = |selector: Option<&Yaml>| {
            selector.and_then(Yaml::as_mapping).is_some_and(|selector| {
                !selector.is_empty()
                    && selector
                        .iter()
                        .all(|(key, value)| pod_labels.get(key) == Some(value))
            })
        };
        assert!(
            of_kind("Service")
                .iter()
                .any(|object| name(object) == service
                    && selects_pods(object.get("spec").and_then(|spec| spec.get("selector")))),
            "a Service selects {service}'s pods"
        );
        assert!(
            of_kind("PodDisruptionBudget")
                .iter()
                .any(|object| selects_pods(
                    object
                        .get("spec")
                        .and_then(|spec| spec.get("selector"))
                        .and_then(|selector| selector.get("matchLabels"))
                )),
            "a PodDisruptionBudget covers {service}"
        );
        assert!(
            of_kind("HorizontalPodAutoscaler").iter().any(|object| {
                str_at(object, &["spec", "scaleTargetRef", "kind"]) == Some("Deployment")
                    && str_at(object, &["spec", "scaleTargetRef", "name"]) == Some(service)
            }),
            "a HorizontalPodAutoscaler scales {service}"
        );
    }
    Ok(())
}

/// Collects `(kind, object name, key)` of every `configMapKeyRef` / `secretKeyRef` below.
fn key_references(value: &Yaml, found: &mut Vec<(&'static str, String, String)>) {
    match value {
        Yaml::Mapping(mapping) => {
            for (field, kind) in [("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")] {
                if let Some(reference) = mapping.get(field) {
                    found.push((
                        kind,
                        str_at(reference, &["name"]).unwrap_or_default().to_owned(),
                        str_at(reference, &["key"]).unwrap_or_default().to_owned(),
                    ));
                }
            }
            for child in mapping.values() {
                key_references(child, found);
            }
        }
        Yaml::Sequence(sequence) => {
            for child in sequence {
                key_references(child, found);
            }
        }
        _ => {}
    }
}

#[test]
fn every_configuration_key_a_pod_reads_is_defined_and_named_for_its_service() -> Result<()> {
    let objects = k8s_objects()?;
    let mut defined = BTreeSet::new();
    for (_, object) in &objects {
        if matches!(kind(object), "ConfigMap" | "Secret") {
            for field in ["data", "stringData"] {
                for key in object
                    .get(field)
                    .and_then(Yaml::as_mapping)
                    .into_iter()
                    .flatten()
                {
                    let key = key.0.as_str().unwrap_or_default().to_owned();
                    defined.insert((kind(object).to_owned(), name(object).to_owned(), key));
                }
            }
        }
    }
    for (_, object) in objects
        .iter()
        .filter(|(_, object)| kind(object) == "Deployment")
    {
        let mut references = Vec::new();
        key_references(object, &mut references);
        assert!(
            !references.is_empty(),
            "{} reads its configuration",
            name(object)
        );
        for (kind, map, key) in references {
            assert!(
                defined.contains(&(kind.to_owned(), map.clone(), key.clone())),
                "{}: {kind} {map} defines {key}",
                name(object)
            );
        }
        let prefix = format!("{}__", name(object).to_ascii_uppercase());
        for container in containers(object, "containers")
            .into_iter()
            .chain(containers(object, "initContainers"))
        {
            for variable in container
                .get("env")
                .and_then(Yaml::as_sequence)
                .into_iter()
                .flatten()
                .filter_map(|variable| str_at(variable, &["name"]))
            {
                if variable.contains("__") {
                    assert!(
                        variable.starts_with(&prefix),
                        "{}: {variable} is read by it",
                        name(object)
                    );
                }
            }
        }
    }
    Ok(())
}

/// The metric names the services register, found in their code: the literal first argument
/// of every `counter!`, `gauge!` and `histogram!`, however the call is laid out.
fn exported_metrics() -> Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for source in files_under(&repository().join("services"), &["rs"])? {
        // Only the services' own code counts, not their tests.
        if !source.components().any(|part| part.as_os_str() == "src") {
            continue;
        }
        let text = read(&source)?;
        for (kind, suffixes) in [
            ("counter!(", &[][..]),
            ("gauge!(", &[][..]),
            // Rendered as a histogram (buckets) or, without buckets, a summary.
            ("histogram!(", &["_bucket", "_sum", "_count"][..]),
        ] {
            let mut rest = text.as_str();
            while let Some(at) = rest.find(kind) {
                rest = &rest[at + kind.len()..];
                let Some(literal) = rest.trim_start().strip_prefix('"') else {
                    continue;
                };
                let Some(end) = literal.find('"') else {
                    continue;
                };
                let name = &literal[..end];
                names.insert(name.to_owned());
                for suffix in suffixes {
                    names.insert(format!("{name}{suffix}"));
                }
            }
        }
    }
    Ok(names)
}

/// PromQL words that are never metric names.
const PROMQL_KEYWORDS: [&str; 29] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "atan2",
    "inf",
    "nan",
    "start",
];

/// Keywords followed by a parenthesised list of label names.
const LABEL_LIST_KEYWORDS: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names a PromQL expression selects.
fn promql_metrics(expression: &str) -> Vec<String> {
    // Blank out what cannot hold a metric name: strings, label matchers, ranges, Grafana
    // variables and comments.
    let mut cleaned = String::new();
    let mut chars = expression.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' | '`' => {
                let mut escaped = false;
                for inner in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if inner == '\\' {
                        escaped = true;
                    } else if inner == c {
                        break;
                    }
                }
                cleaned.push(' ');
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                let mut quote = None;
                for inner in chars.by_ref() {
                    match quote {
                        Some(open) if inner == open => quote = None,
                        Some(_) => {}
                        None if inner == '"' || inner == '\'' => quote = Some(inner),
                        None if inner == close => break,
                        None => {}
                    }
                }
                cleaned.push(' ');
            }
            '$' => {
                if chars.peek() == Some(&'{') {
                    for inner in chars.by_ref() {
                        if inner == '}' {
                            break;
                        }
                    }
                } else {
                    while chars
                        .peek()
                        .is_some_and(|next| next.is_alphanumeric() || *next == '_')
                    {
                        chars.next();
                    }
                }
                cleaned.push(' ');
            }
            '#' => {
                for inner in chars.by_ref() {
                    if inner == '\n' {
                        break;
                    }
                }
                cleaned.push(' ');
            }
            other => cleaned.push(other),
        }
    }

    // Words and the punctuation between them.
    let mut tokens: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in cleaned.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' || c == '.' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            tokens.push(std::mem::take(&mut word));
        }
        if !c.is_whitespace() {
            tokens.push(c.to_string());
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }

    let mut names = Vec::new();
    let mut index = 0;
    while index < tokens.len() {
        let token = &tokens[index];
        let next = tokens.get(index + 1).map(String::as_str);
        index += 1;
        let starts_like_a_name = token
            .chars()
            .next()
            .is_some_and(|first| first.is_alphabetic() || first == '_' || first == ':');
        if !starts_like_a_name {
            continue;
        }
        if LABEL_LIST_KEYWORDS.contains(&token.as_str()) {
            if next == Some("(") {
                while index < tokens.len() && tokens[index] != ")" {
                    index += 1;
                }
            }
            continue;
        }
        if PROMQL_KEYWORDS.contains(&token.as_str()) || next == Some("(") {
            continue;
        }
        names.push(token.clone());
    }
    names
}

/// The query of a Grafana template variable, reduced to the PromQL it evaluates.
fn variable_promql(query: &str) -> Option<String> {
    let query = query.trim();
    if let Some(arguments) = query
        .strip_prefix("label_values(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        // label_values(selector, label) reads a metric; label_values(label) reads none.
        let mut depth = 0;
        for (at, c) in arguments.char_indices() {
            match c {
                '(' | '{' => depth += 1,
                ')' | '}' => depth -= 1,
                ',' if depth == 0 => return Some(arguments[..at].to_owned()),
                _ => {}
            }
        }
        return None;
    }
    if let Some(expression) = query
        .strip_prefix("query_result(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        return Some(expression.to_owned());
    }
    None
}

/// Every PromQL expression of a dashboard: panel targets (Prometheus only) and query
/// variables.
fn dashboard_promql(dashboard: &Json) -> Vec<String> {
    let mut expressions = Vec::new();
    let mut pending = vec![dashboard];
    while let Some(node) = pending.pop() {
        match node {
            Json::Object(object) => {
                if let (Some(Json::String(expression)), Some(_)) =
                    (object.get("expr"), object.get("refId"))
                {
                    let datasource = object.get("datasource");
                    let is_loki = datasource
                        .and_then(|source| source.get("type").or(source.get("uid")))
                        .and_then(Json::as_str)
                        == Some("loki");
                    if !is_loki {
                        expressions.push(expression.clone());
                    }
                }
                pending.extend(object.values());
            }
            Json::Array(array) => pending.extend(array),
            _ => {}
        }
    }
    for variable in dashboard
        .pointer("/templating/list")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        if variable.get("type").and_then(Json::as_str) != Some("query") {
            continue;
        }
        let query = match variable.get("query") {
            Some(Json::String(query)) => Some(query.as_str()),
            Some(query) => query.get("query").and_then(Json::as_str),
            None => None,
        };
        if let Some(expression) = query.and_then(variable_promql) {
            expressions.push(expression);
        }
    }
    expressions
}

fn dashboards() -> Result<Vec<(PathBuf, Json)>> {
    let mut dashboards = Vec::new();
    for path in files_under(&deploy().join("grafana"), &["json"])? {
        let dashboard: Json = serde_json::from_str(&read(&path)?)
            .with_context(|| format!("parsing {}", shown(&path)))?;
        dashboards.push((path, dashboard));
    }
    Ok(dashboards)
}

#[test]
fn the_promql_reader_finds_metric_names_and_nothing_else() {
    assert_eq!(
        promql_metrics(
            r#"sum by (topic, outcome) (rate(consumer_messages_total{outcome="dead_lettered", service=~"$service"}[$__rate_interval]))"#
        ),
        ["consumer_messages_total"]
    );
    assert_eq!(
        promql_metrics("max(outbox_backlog) / on (service) group_left (x) up offset 5m > bool 0"),
        ["outbox_backlog", "up"]
    );
    assert_eq!(
        promql_metrics(
            r#"histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket[5m]))) or vector(0)"#
        ),
        ["a_seconds_bucket"]
    );
    assert_eq!(
        variable_promql(r#"label_values(up{job="benefit"}, service)"#).as_deref(),
        Some(r#"up{job="benefit"}"#)
    );
    assert_eq!(variable_promql("label_values(service)"), None);
}

#[test]
fn the_code_scan_finds_the_metrics_the_overview_is_built_on() -> Result<()> {
    let exported = exported_metrics()?;
    for metric in CORE_METRICS {
        assert!(exported.contains(metric), "some service exports {metric}");
    }
    Ok(())
}

#[test]
fn every_metric_a_dashboard_queries_is_exported_by_some_service() -> Result<()> {
    let exported = exported_metrics()?;
    let dashboards = dashboards()?;
    assert!(!dashboards.is_empty(), "there are dashboards");
    let mut unknown = BTreeSet::new();
    let mut queried = 0;
    for (path, dashboard) in &dashboards {
        let expressions = dashboard_promql(dashboard);
        assert!(!expressions.is_empty(), "{} queries something", shown(path));
        for expression in expressions {
            for metric in promql_metrics(&expression) {
                queried += 1;
                if !exported.contains(&metric) && !PROMETHEUS_OWN_SERIES.contains(&metric.as_str())
                {
                    unknown.insert(format!("{metric} (in {})", shown(path)));
                }
            }
        }
    }
    assert!(queried > 0, "the dashboards name metrics");
    assert!(
        unknown.is_empty(),
        "dashboards query metrics nobody exports: {unknown:?}"
    );
    Ok(())
}

#[test]
fn dashboards_have_fixed_uids_and_use_only_provisioned_data_sources() -> Result<()> {
    let sources = yaml_documents(&deploy().join("grafana/provisioning/datasources/benefit.yaml"))?;
    let sources = sources.first().context("data sources")?;
    let mut uids = BTreeMap::new();
    for source in sources
        .get("datasources")
        .and_then(Yaml::as_sequence)
        .context("datasources")?
    {
        let kind = str_at(source, &["type"]).unwrap_or_default().to_owned();
        let uid = str_at(source, &["uid"]).context("every data source has a fixed uid")?;
        uids.insert(kind, uid.to_owned());
    }
    for kind in ["prometheus", "tempo", "loki"] {
        assert!(
            uids.contains_key(kind),
            "a {kind} data source is provisioned"
        );
    }
    let tempo = sources
        .get("datasources")
        .and_then(Yaml::as_sequence)
        .and_then(|list| {
            list.iter()
                .find(|source| str_at(source, &["type"]) == Some("tempo"))
        })
        .context("tempo")?;
    assert_eq!(
        str_at(tempo, &["jsonData", "tracesToLogsV2", "datasourceUid"]),
        uids.get("loki").map(String::as_str),
        "a span links to its logs in Loki"
    );

    let mut seen = BTreeSet::new();
    for (path, dashboard) in dashboards()? {
        let uid = dashboard
            .get("uid")
            .and_then(Json::as_str)
            .context("a dashboard uid")?;
        assert!(
            seen.insert(uid.to_owned()),
            "{} has a uid of its own",
            shown(&path)
        );
        assert!(dashboard.get("title").and_then(Json::as_str).is_some());
        let mut pending = vec![&dashboard];
        while let Some(node) = pending.pop() {
            match node {
                Json::Object(object) => {
                    if let Some(uid) = object
                        .get("datasource")
                        .and_then(|source| source.get("uid"))
                        .and_then(Json::as_str)
                    {
                        let known = uid.starts_with('$') || uids.values().any(|known| known == uid);
                        assert!(known, "{}: data source {uid} is provisioned", shown(&path));
                    }
                    pending.extend(object.values());
                }
                Json::Array(array) => pending.extend(array),
                _ => {}
            }
        }
    }
    Ok(())
}

#[test]
fn grafana_loads_the_dashboards_from_where_compose_mounts_them() -> Result<()> {
    let providers = yaml_documents(&deploy().join("grafana/provisioning/dashboards/benefit.yaml"))?;
    let path = providers
        .first()
        .and_then(|providers| providers.get("providers"))
        .and_then(Yaml::as_sequence)
        .and_then(|list| list.first())
        .and_then(|provider| str_at(provider, &["options", "path"]))
        .context("a provider path")?
        .to_owned();
    let services = compose_services(&compose()?)?;
    let mounts = bind_mounts(&services["lgtm"]);
    assert!(
        mounts
            .iter()
            .any(|(source, target)| source == "./grafana/dashboards" && *target == path),
        "compose mounts deploy/grafana/dashboards at {path}"
    );
    Ok(())
}

#[test]
fn log_lines_reach_the_collector_compose_configures() -> Result<()> {
    let services = compose_services(&compose()?)?;
    let lgtm = &services["lgtm"];
    let overlay = environment(lgtm)
        .get("OTELCOL_EXTRA_ARGS")
        .and_then(|args| args.strip_prefix("--config=file:").map(str::to_owned))
        .context("the collector is given an extra configuration file")?;
    let (source, _) = bind_mounts(lgtm)
        .into_iter()
        .find(|(_, target)| *target == overlay)
        .context("the extra configuration is mounted")?;
    let collector = yaml_documents(&deploy().join(&source))?;
    let collector = collector.first().context("a collector configuration")?;
    let endpoint = str_at(collector, &["receivers", "fluentforward", "endpoint"])
        .context("a fluentforward receiver")?;
    let port = endpoint.rsplit(':').next().unwrap_or_default().to_owned();
    let receivers: Vec<&str> = collector
        .get("service")
        .and_then(|service| service.get("pipelines"))
        .and_then(|pipelines| pipelines.get("logs"))
        .and_then(|logs| logs.get("receivers"))
        .and_then(Yaml::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(Yaml::as_str)
        .collect();
    assert!(
        receivers.contains(&"fluentforward"),
        "the logs pipeline reads forwarded lines"
    );
    let published = lgtm
        .get("ports")
        .and_then(Yaml::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(Yaml::as_str)
        .any(|mapping| mapping.ends_with(&format!(":{port}")));
    assert!(published, "the Docker daemon can reach port {port}");

    for (name, service) in &services {
        if !uses_benefit_image(service) {
            continue;
        }
        assert_eq!(
            str_at(service, &["logging", "driver"]),
            Some("fluentd"),
            "{name}"
        );
        let address =
            str_at(service, &["logging", "options", "fluentd-address"]).unwrap_or_default();
        assert!(
            address.ends_with(&format!(":{port}")),
            "{name} logs to the collector"
        );
    }
    Ok(())
}
