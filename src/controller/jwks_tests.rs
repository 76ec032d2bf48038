//! The controller's JWKS fetches against a real HTTP server on loopback: a new jwksUri is
//! fetched at once, a rotated key set is picked up at the next refresh, a failing server
//! leaves the last good keys, and translation carries them into the pods' JWT rules.

use std::net::SocketAddr;
use std::sync::Mutex;

use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use super::*;
use crate::controller::dir_source::DirSource;

/// What the issuer's server answers: (status, body).
type Answer = Arc<Mutex<(u16, String)>>;

async fn issuer(answer: Answer) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |_req| {
                    let (status, body) = answer.lock().unwrap().clone();
                    async move {
                        let resp = hyper::Response::builder()
                            .status(status)
                            .body(Full::new(Bytes::from(body)))
                            .unwrap();
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

fn key_set(kid: &str) -> String {
    // A P-256 public key (any valid one: only the document is compared here).
    format!(
        r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"{kid}","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}}]}}"#
    )
}

/// Waits (5 s at most) until the web pod's JWT rule holds a key with `kid`.
async fn rule_has_kid(source: &WithJwks, kid: &str) {
    let want = format!(r#""kid":"{kid}""#);
    for _ in 0..100 {
        let inputs = source.inputs();
        let mesh = crate::translate::translate(&inputs, &crate::translate::Options::default());
        let pod = inputs
            .pods
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some("web"))
            .unwrap();
        if mesh
            .inbound(pod)
            .jwt
            .first()
            .is_some_and(|r| r.jwks.contains(&want))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no key {kid} in the rule: {:?}", source.inputs().jwks);
}

#[tokio::test]
async fn keys_are_fetched_rotated_and_kept_when_the_server_fails() {
    let answer: Answer = Arc::new(Mutex::new((200, key_set("k1"))));
    let addr = issuer(answer.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{ name: web, namespace: shop, labels: {{ app: web }} }}\n\
         ---\napiVersion: security.istio.io/v1\nkind: RequestAuthentication\n\
         metadata: {{ name: web, namespace: shop }}\n\
         spec:\n  jwtRules: [{{ issuer: https://issuer.test, jwksUri: \"http://{addr}/jwks\" }}]\n"
    );
    std::fs::write(dir.path().join("ra.yaml"), yaml).unwrap();
    let jwks = Arc::new(Jwks::default());
    let source = Arc::new(WithJwks::new(
        Arc::new(DirSource::open(dir.path()).unwrap()),
        jwks.clone(),
    ));
    let (tx, mut rx) = watch::channel(0u64);
    let every = Duration::from_millis(300);
    let task = tokio::spawn(refresh(source.clone(), jwks.clone(), tx, every, None));
    tokio::time::timeout(Duration::from_secs(5), rx.changed())
        .await
        .expect("a change for the first fetch")
        .unwrap();
    rule_has_kid(&source, "k1").await;

    // The issuer rotates its key: picked up at the next refresh.
    *answer.lock().unwrap() = (200, key_set("k2"));
    rule_has_kid(&source, "k2").await;

    // The server fails: the last good keys stay.
    *answer.lock().unwrap() = (503, "down".to_owned());
    tokio::time::sleep(every * 3).await;
    rule_has_kid(&source, "k2").await;
    task.abort();
}
