//! Generated affinity cookies: a client without the cookie gets one set, and its requests
//! carrying it stay on one endpoint.

use std::collections::BTreeSet;

use crate::support::*;

#[tokio::test]
async fn a_client_without_the_cookie_gets_one_and_sticks_to_one_endpoint() {
    let a = named("a").await;
    let b = named("b").await;
    let yaml = format!(
        "services:\n  - name: web\n    authorities: [web.test]\n    policy:\n      \
         loadBalancer: {{ algorithm: consistent-hash, hashOn: {{ cookie: session }} }}\n      \
         stickyCookie: {{ path: /, ttl: 1h }}\n    backends:\n      - {{ name: app, endpoints: \
         [{{ addr: \"{a}\" }}, {{ addr: \"{b}\" }}] }}\n"
    );
    let proxy = TestProxy::start(&yaml).await;
    let c = http1_client();
    let mut first_answers = BTreeSet::new();
    for _ in 0..40 {
        let (status, headers, body) = send(&c, proxy.outbound, "web.test", "/", &[]).await;
        assert_eq!(status, 200);
        let set = headers["set-cookie"].to_str().unwrap().to_owned();
        assert!(
            set.starts_with("session=") && set.ends_with("; Max-Age=3600; Path=/; HttpOnly"),
            "{set}"
        );
        let cookie = set.split(';').next().unwrap().to_owned();
        first_answers.insert(body.clone());
        for _ in 0..10 {
            let (_, headers, again) =
                send(&c, proxy.outbound, "web.test", "/", &[("cookie", &cookie)]).await;
            assert_eq!(again, body, "the cookie {cookie} keeps its endpoint");
            assert!(
                !headers.contains_key("set-cookie"),
                "a client with the cookie keeps it"
            );
        }
    }
    // Fresh cookies spread over both endpoints (each has 1 in 2^39 odds of all landing on one).
    assert_eq!(first_answers.len(), 2, "{first_answers:?}");
}
