//! The controller at scale, run by `bench/controller.sh` (ignored in `cargo test`): 1,000
//! Services with 10 endpoints each in the real API server, 1,000 proxies subscribed (discovery
//! clients in this process, each a stream of its own over mesh TLS), then endpoint changes one
//! at a time. Prints the time for a change to reach every proxy (p50/p99 over proxies and
//! changes), the controller's RSS and CPU per change, and the size of one proxy's config.
//! It prints figures; it never fails on one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use meshctl::api::discovery::discovery_client::DiscoveryClient;
use meshctl::api::discovery::proxy_message::Message;
use meshctl::api::discovery::{Ack, ProxyMessage, Subscribe};
use meshctl::identity::SpiffeId;
use meshctl::identity::ca::Ca;
use meshctl::identity::client::mesh_channel;
use meshctl::identity::csr::LeafRequest;
use meshctl::identity::pem::PemFile;
use meshctl::identity::rotate::CertStore;
use meshctl::identity::tls;
use serde_json::json;
use tokio::sync::mpsc;

use crate::controller_process::{ControllerProcess, install, trust_anchors};
use crate::harness::cluster;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU (utime + stime in clock ticks) and memory (VmRSS now and VmHWM, its peak, in kB) of
/// `pid`.
fn usage(pid: u32) -> (u64, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split_whitespace()
        .collect();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    let ticks = field(11).unwrap_or(0) + field(12).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (ticks, kb("VmRSS:"), kb("VmHWM:"))
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// RSS right away, once the controller has settled (it trims its heap after a burst), and
/// the peak so far.
async fn rss_now_and_settled(pid: u32) -> (u64, u64, u64) {
    let (_, now, _) = usage(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, settled, peak) = usage(pid);
    (now, settled, peak)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// What one subscriber saw: (when, services in the snapshot, bytes) per snapshot.
type Seen = Arc<Mutex<Vec<(Instant, Vec<String>, usize)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: bench/controller.sh runs it"]
async fn controller_at_scale() {
    let services = env_or("BENCH_SERVICES", 1000);
    let per_service = env_or("BENCH_ENDPOINTS", 10);
    let proxies = env_or("BENCH_PROXIES", 1000);
    let changes = env_or("BENCH_CHANGES", 20);
    let admin = cluster().admin().await;
    let mesh_ns = format!("meshctl-bench-{}", std::process::id());
    install(&cluster().kubeconfig, &mesh_ns);
    let ns = cluster().namespace("bench").await;

    // Pods (meshed, service account `bench`), Services and their EndpointSlices.
    let started = Instant::now();
    let pods_api: Api<Pod> = Api::namespaced(admin.clone(), &ns);
    let svc_api: Api<Service> = Api::namespaced(admin.clone(), &ns);
    let slice_api: Api<EndpointSlice> = Api::namespaced(admin.clone(), &ns);
    let pod_count = proxies.max(per_service);
    stream::iter(0..pod_count)
        .for_each_concurrent(16, |i| {
            let api = pods_api.clone();
            async move {
                let pod: Pod = serde_json::from_value(json!({
                    "metadata": {"name": format!("p{i}"), "labels": {"app": format!("a{}", i % 10)}},
                    "spec": {"serviceAccountName": "bench", "containers": [
                        {"name": "app", "image": "app"}, {"name": "meshctl-proxy", "image": "meshctl"}]},
                }))
                .unwrap();
                api.create(&PostParams::default(), &pod).await.expect("create pod");
            }
        })
        .await;
    let slice = |s: usize, extra: usize| -> EndpointSlice {
        let endpoints: Vec<serde_json::Value> = (0..per_service + extra)
            .map(|j| {
                let n = s * per_service + j;
                json!({
                    "addresses": [format!("10.{}.{}.{}", 100 + n / 65536, (n / 256) % 256, n % 256)],
                    "conditions": {"ready": true},
                    "targetRef": {"kind": "Pod", "name": format!("p{}", n % pod_count), "namespace": ns},
                })
            })
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": format!("s{s}"), "labels": {"kubernetes.io/service-name": format!("s{s}")}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": endpoints,
        }))
        .unwrap()
    };
    stream::iter(0..services)
        .for_each_concurrent(16, |s| {
            let (svc_api, slice_api) = (svc_api.clone(), slice_api.clone());
            let slice = slice(s, 0);
            async move {
                let svc: Service = serde_json::from_value(json!({
                    "metadata": {"name": format!("s{s}")},
                    "spec": {"selector": {"app": "x"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
                }))
                .unwrap();
                svc_api.create(&PostParams::default(), &svc).await.expect("create service");
                slice_api.create(&PostParams::default(), &slice).await.expect("create slice");
            }
        })
        .await;
    eprintln!(
        "created {pod_count} pods, {services} services, {} endpoints in {:.1?}",
        services * per_service,
        started.elapsed()
    );

    let kubeconfig = cluster()
        .kubeconfig_for_service_account(&mesh_ns, "meshctl-controller")
        .await;
    let log = tempfile::NamedTempFile::new().expect("log");
    let started = Instant::now();
    let controller =
        ControllerProcess::start(kubeconfig, &mesh_ns, "127.0.0.1", None, log.path().into());
    let pid = controller.pid().expect("running");
    eprintln!("controller ready in {:.1?}", started.elapsed());
    let rss_ready = rss_now_and_settled(pid).await;

    // One leaf for identity bench/bench, signed with the install's issuer.
    let issuer: Secret = Api::namespaced(admin.clone(), &mesh_ns)
        .get("meshctl-identity-issuer")
        .await
        .expect("issuer");
    let data = issuer.data.expect("data");
    let cert = PemFile::parse("tls.crt".as_ref(), &data["tls.crt"].0)
        .unwrap()
        .into_certs()
        .unwrap();
    let key = PemFile::parse("tls.key".as_ref(), &data["tls.key"].0)
        .unwrap()
        .into_key()
        .unwrap();
    let ca = Ca::new(cert[0].clone(), key, Duration::from_secs(86_400)).unwrap();
    let me = SpiffeId::new("cluster.local", &ns, "bench").unwrap();
    let request = LeafRequest::new(&me).unwrap();
    let issued = ca
        .sign(request.csr_der(), &me, std::time::SystemTime::now())
        .unwrap();
    let store = CertStore::with_leaf(request.complete(issued.chain).unwrap()).unwrap();
    let anchors = trust_anchors(admin.clone(), &mesh_ns).await;
    let anchors = PemFile::parse("roots".as_ref(), anchors.as_bytes())
        .unwrap()
        .into_certs()
        .unwrap();
    let roots = tls::root_store(&anchors).unwrap();
    let controller_id = SpiffeId::new("cluster.local", &mesh_ns, "meshctl-controller").unwrap();

    // The subscribers: streams spread over 10 connections (a connection per proxy would be
    // closer to the real thing; streams share them here to keep this process small).
    let channels: Vec<_> = (0..10)
        .map(|_| {
            mesh_channel(
                &controller.grpc.to_string(),
                &controller_id,
                roots.clone(),
                store.clone(),
                None,
            )
            .expect("channel")
        })
        .collect();
    let seen: Vec<Seen> = (0..proxies).map(|_| Seen::default()).collect();
    let started = Instant::now();
    for (i, seen) in seen.iter().enumerate() {
        let mut client = DiscoveryClient::new(channels[i % channels.len()].clone())
            .max_decoding_message_size(64 << 20);
        let (tx, rx) = mpsc::channel(4);
        let seen = seen.clone();
        let ns = ns.clone();
        tokio::spawn(async move {
            let hello = Message::Subscribe(Subscribe {
                pod_name: format!("p{i}"),
                pod_namespace: ns,
                proxy_version: "bench".into(),
            });
            tx.send(ProxyMessage {
                message: Some(hello),
            })
            .await
            .unwrap();
            let mut snapshots = client
                .stream(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
                .expect("subscribe")
                .into_inner();
            // Parts of one version are gathered, as the proxy does, and recorded once whole.
            let (mut names, mut bytes) = (Vec::new(), 0);
            while let Some(Ok(s)) = snapshots.next().await {
                bytes += s.services.iter().map(|r| r.json.len()).sum::<usize>();
                names.extend(s.services.iter().map(|r| r.name.clone()));
                if s.more {
                    continue;
                }
                let whole = (std::mem::take(&mut names), std::mem::take(&mut bytes));
                seen.lock()
                    .unwrap()
                    .push((Instant::now(), whole.0, whole.1));
                let ack = Message::Ack(Ack { version: s.version });
                if tx.send(ProxyMessage { message: Some(ack) }).await.is_err() {
                    break;
                }
            }
        });
    }
    let all_have = |n: usize| seen.iter().all(|s| s.lock().unwrap().len() >= n);
    let deadline = Instant::now() + Duration::from_secs(600);
    while !all_have(1) {
        assert!(
            Instant::now() < deadline,
            "not every proxy got its first snapshot"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first_bytes = seen[0].lock().unwrap()[0].2;
    eprintln!(
        "{proxies} proxies subscribed and got their full snapshot in {:.1?}; one proxy's config: {} services, {:.2} MB of JSON",
        started.elapsed(),
        seen[0].lock().unwrap()[0].1.len(),
        first_bytes as f64 / 1e6
    );
    let rss0 = rss_now_and_settled(pid).await;
    let (ticks0, _, _) = usage(pid);

    // Changes one at a time: one endpoint added to one Service.
    let mut latencies = Vec::new();
    let mut per_change_max = Vec::new();
    for c in 0..changes {
        let s = (c * 37) % services;
        let before: Vec<usize> = seen.iter().map(|s| s.lock().unwrap().len()).collect();
        let at = Instant::now();
        slice_api
            .patch(
                &format!("s{s}"),
                &PatchParams::apply("bench").force(),
                &Patch::Apply(&slice(s, 1 + c)),
            )
            .await
            .expect("patch slice");
        let target = format!("s{s}.{ns}:80");
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut reached: Vec<Duration> = Vec::new();
        while reached.len() < proxies {
            reached.clear();
            for (i, seen) in seen.iter().enumerate() {
                let seen = seen.lock().unwrap();
                if let Some((when, _, _)) = seen[before[i]..]
                    .iter()
                    .find(|(_, names, _)| names.contains(&target))
                {
                    reached.push(when.duration_since(at));
                }
            }
            if Instant::now() > deadline {
                eprintln!(
                    "change {c}: only {} of {proxies} proxies got it in 60 s",
                    reached.len()
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        per_change_max.push(reached.iter().max().copied().unwrap_or_default());
        latencies.extend(reached);
    }
    let rss1 = rss_now_and_settled(pid).await;
    let (ticks1, _, _) = usage(pid);
    latencies.sort();
    per_change_max.sort();
    let hz = 100.0; // USER_HZ on Linux
    eprintln!(
        "BENCH controller: {services} services, {} endpoints, {proxies} proxies, {changes} changes",
        services * per_service
    );
    eprintln!(
        "BENCH change to proxy: p50 {:.1?} p99 {:.1?} (over {} deliveries); slowest proxy per change p50 {:.1?} max {:.1?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.len(),
        percentile(&per_change_max, 0.5),
        per_change_max.last().copied().unwrap_or_default()
    );
    eprintln!(
        "BENCH controller RSS (MB, at once / 2 s later / peak so far): {:.1} / {:.1} / {:.1} ready (objects synced), {:.1} / {:.1} / {:.1} with every proxy subscribed, {:.1} / {:.1} / {:.1} after the changes; CPU {:.1} ms per change",
        mb(rss_ready.0),
        mb(rss_ready.1),
        mb(rss_ready.2),
        mb(rss0.0),
        mb(rss0.1),
        mb(rss0.2),
        mb(rss1.0),
        mb(rss1.1),
        mb(rss1.2),
        (ticks1 - ticks0) as f64 / hz * 1000.0 / changes.max(1) as f64
    );
    eprintln!(
        "BENCH one proxy's config: {:.2} MB of JSON for {services} services",
        first_bytes as f64 / 1e6
    );
}
