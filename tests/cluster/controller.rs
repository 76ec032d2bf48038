//! The controller's CA against the real API server: a certificate is issued only for the
//! service account a projected token belongs to, checked by TokenReview; tokens for another
//! account, with another audience or expired are refused with the reason.

use std::time::{Duration, SystemTime};

use base64::Engine;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::api::PostParams;
use meshctl::identity::SpiffeId;
use meshctl::identity::client::{CaClient, Token};
use meshctl::identity::pem::PemFile;
use meshctl::identity::rotate::{self, CertStore};
use meshctl::identity::tls;

use crate::controller_process::{ControllerProcess, install, trust_anchors};
use crate::harness::cluster;

/// A token from the TokenRequest API for `sa` (created when missing) with `audience`.
async fn token(accounts: &Api<ServiceAccount>, sa: &str, audience: &str) -> (String, String) {
    if accounts.get_opt(sa).await.expect("get sa").is_none() {
        let account: ServiceAccount =
            serde_json::from_value(serde_json::json!({"metadata": {"name": sa}})).expect("sa");
        accounts
            .create(&PostParams::default(), &account)
            .await
            .expect("create sa");
    }
    let uid = accounts
        .get(sa)
        .await
        .expect("sa")
        .metadata
        .uid
        .expect("uid");
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![audience.to_owned()],
            expiration_seconds: Some(3600),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    let answer = accounts
        .create_token_request(sa, &PostParams::default(), &request)
        .await
        .expect("token request");
    (answer.status.expect("status").token, uid)
}

/// A token the API server's own key signed for `namespace/sa`, expired an hour ago.
fn expired_token(namespace: &str, sa: &str, uid: &str) -> String {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let header = serde_json::json!({"alg": "ES256", "typ": "JWT"});
    let claims = serde_json::json!({
        "aud": ["identity.meshctl.io"],
        "iss": "https://kubernetes.default.svc.cluster.local",
        "sub": format!("system:serviceaccount:{namespace}:{sa}"),
        "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600,
        "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": sa, "uid": uid}},
    });
    let signed = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let pem = std::fs::read_to_string(cluster().service_account_signing_key()).expect("sa.key");
    let key = rcgen::KeyPair::from_pem(&pem).expect("the API server's signing key");
    let der = rcgen::SigningKey::sign(&key, signed.as_bytes()).expect("sign");
    format!("{signed}.{}", b64(&fixed_signature(&der)))
}

/// An ECDSA signature as DER (SEQUENCE of two INTEGERs) → JWS's 64 bytes r ‖ s.
fn fixed_signature(der: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    let mut at = 2; // SEQUENCE tag and (short) length
    for _ in 0..2 {
        assert_eq!(der[at], 0x02, "an INTEGER");
        let len = usize::from(der[at + 1]);
        let int = &der[at + 2..at + 2 + len];
        let int = &int[int.len().saturating_sub(32)..];
        out.extend(std::iter::repeat_n(0, 32 - int.len()));
        out.extend_from_slice(int);
        at += 2 + len;
    }
    out
}

#[tokio::test]
async fn the_ca_certifies_only_the_token_s_own_service_account() {
    let admin = cluster().admin().await;
    let mesh_ns = format!("meshctl-ca-{}", std::process::id());
    install(&cluster().kubeconfig, &mesh_ns);
    let kubeconfig = cluster()
        .kubeconfig_for_service_account(&mesh_ns, "meshctl-controller")
        .await;
    let log = tempfile::NamedTempFile::new().expect("log file");
    let controller =
        ControllerProcess::start(kubeconfig, &mesh_ns, "127.0.0.1", None, log.path().into());
    let roots_pem = trust_anchors(admin.clone(), &mesh_ns).await;
    let roots = PemFile::parse("roots".as_ref(), roots_pem.as_bytes())
        .expect("PEM")
        .into_certs()
        .expect("certs");
    let roots = tls::root_store(&roots).expect("roots");

    let ns = cluster().namespace("ca").await;
    let accounts: Api<ServiceAccount> = Api::namespaced(admin, &ns);
    let web = SpiffeId::new("cluster.local", &ns, "web").expect("id");
    let ca_id = SpiffeId::new("cluster.local", &mesh_ns, "meshctl-controller").expect("id");
    let ask = |token: String| {
        let (roots, ca_id, web, addr) =
            (roots.clone(), ca_id.clone(), web.clone(), controller.grpc);
        async move {
            let store = CertStore::new();
            let client = CaClient::new(
                &addr.to_string(),
                &ca_id,
                roots,
                store.clone(),
                Token::Literal(token.into()),
            )
            .expect("client");
            rotate::renew_once(&store, &web, &client)
                .await
                .map(|()| store.leaf().expect("a leaf"))
                .map_err(|e| e.to_string())
        }
    };

    // Its own token: a leaf for exactly that identity, living a day.
    let (good, uid) = token(&accounts, "web", "identity.meshctl.io").await;
    let leaf = ask(good)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", controller.logs()));
    assert_eq!(leaf.id(), &web);
    let life = leaf
        .not_after()
        .duration_since(leaf.not_before())
        .expect("valid");
    assert!(life >= Duration::from_secs(23 * 3600), "{life:?}");

    // Another account's token asking for web's identity.
    let (other, _) = token(&accounts, "other", "identity.meshctl.io").await;
    let err = ask(other).await.expect_err("another account's token");
    assert!(
        err.contains(&format!(
            "the credentials are for `spiffe://cluster.local/ns/{ns}/sa/other`"
        )),
        "{err}"
    );
    // A token for another audience (e.g. the API server's own).
    let (api_token, _) = token(&accounts, "web", "https://kubernetes.default.svc").await;
    let err = ask(api_token).await.expect_err("another audience");
    assert!(
        err.contains("the service-account token was refused"),
        "{err}"
    );
    assert!(err.contains("audience"), "{err}");
    // Expired.
    let err = ask(expired_token(&ns, "web", &uid))
        .await
        .expect_err("expired");
    assert!(
        err.contains("the service-account token was refused"),
        "{err}"
    );
    assert!(err.contains("expired"), "{err}");
    // No token at all (a renewal with a certificate only is not enough in a cluster).
    let err = ask(String::new()).await.expect_err("no token");
    assert!(err.contains("no service-account token was sent"), "{err}");

    assert_eq!(
        controller.metric("meshctl_controller_identity_certificates_issued_total"),
        1.0
    );
    let (_, metrics) = controller.get("/metrics");
    let refused: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("meshctl_controller_identity_token_review_failures_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(refused, 4.0, "{metrics}");
}
