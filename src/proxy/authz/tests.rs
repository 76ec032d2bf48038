//! The engine's decisions, rule by rule.

use super::*;

fn authz(json: &str) -> Authz {
    let config: Authorization = serde_json::from_str(json).unwrap();
    config.validate("authorization").unwrap();
    Authz::new(&config)
}

fn id(s: &str) -> SpiffeId {
    s.parse().unwrap()
}

fn http<'a>(port: u16, client: Option<&'a SpiffeId>, m: &'a str, p: &'a str) -> Subject<'a> {
    Subject {
        port,
        client: client.map(as_client),
        http: Some((m, p)),
        ..Subject::default()
    }
}

fn as_client(id: &SpiffeId) -> Client<'_> {
    let text = Box::leak(id.to_string().into_boxed_str());
    Client { id, text }
}

fn allowed(a: &Authz, s: Subject<'_>) -> bool {
    a.check(&s) == Decision::Allow
}

#[test]
fn defaults_decide_ports_no_allow_rule_covers() {
    let web = id("spiffe://td/ns/shop/sa/web");
    for (default, anon, authed) in [
        ("all-allowed", true, true),
        ("all-authenticated", false, true),
        ("deny", false, false),
    ] {
        let a = authz(&format!(r#"{{"default":"{default}"}}"#));
        assert_eq!(allowed(&a, http(80, None, "GET", "/")), anon, "{default}");
        assert_eq!(
            allowed(&a, http(80, Some(&web), "GET", "/")),
            authed,
            "{default}"
        );
    }
    let a = authz(r#"{"default":"deny"}"#);
    assert_eq!(
        a.check(&http(80, None, "GET", "/")),
        Decision::Deny(Arc::from("default:deny"))
    );
}

#[test]
fn identity_namespace_and_unauthenticated_sources() {
    let a = authz(
        r#"{"rules":[{"name":"r","action":"ALLOW","from":[
            {"identities":["spiffe://td/ns/shop/sa/web"]},
            {"identities":["spiffe://td/ns/ops/*"]},
            {"identities":["*/sa/admin"]},
            {"namespaces":["batch"]},
            {"unauthenticated":true}]}]}"#,
    );
    for (who, ok) in [
        ("spiffe://td/ns/shop/sa/web", true),
        ("spiffe://td/ns/shop/sa/web2", false),
        ("spiffe://td/ns/ops/sa/anything", true),
        ("spiffe://td/ns/x/sa/admin", true),
        ("spiffe://td/ns/batch/sa/job", true),
        ("spiffe://td/ns/other/sa/job", false),
    ] {
        let who = id(who);
        assert_eq!(allowed(&a, http(80, Some(&who), "GET", "/")), ok, "{who}");
    }
    assert!(allowed(&a, http(80, None, "GET", "/")));
}

#[test]
fn operations_and_the_port_an_allow_covers() {
    let a = authz(
        r#"{"rules":[{"action":"ALLOW","to":[
            {"ports":[80],"methods":["GET"],"paths":["/api/*","*.css","/health"]}]}]}"#,
    );
    assert!(allowed(&a, http(80, None, "GET", "/api/x")));
    assert!(allowed(&a, http(80, None, "GET", "/s/site.css")));
    assert!(allowed(&a, http(80, None, "GET", "/health")));
    assert!(!allowed(&a, http(80, None, "GET", "/health/x")));
    assert!(!allowed(&a, http(80, None, "POST", "/api/x")));
    assert_eq!(
        a.check(&http(80, None, "POST", "/api/x")),
        Decision::Deny(Arc::from("no-allow-rule"))
    );
    // Port 81 is not covered by the ALLOW: the default (all allowed) applies.
    assert!(allowed(&a, http(81, None, "POST", "/x")));
    let tcp = Subject {
        port: 80,
        client: None,
        http: None,
        ..Subject::default()
    };
    assert!(
        !allowed(&a, tcp),
        "an ALLOW with HTTP conditions never matches TCP"
    );
}

#[test]
fn deny_comes_first_and_fails_closed_for_tcp() {
    let admin = id("spiffe://td/ns/ops/sa/admin");
    let a = authz(
        r#"{"rules":[
            {"name":"no-admin-writes","action":"DENY","to":[{"methods":["POST"],"paths":["/admin*"]}]},
            {"action":"ALLOW","from":[{"identities":["spiffe://td/ns/ops/*"]}]}]}"#,
    );
    assert!(allowed(&a, http(80, Some(&admin), "GET", "/admin")));
    assert_eq!(
        a.check(&http(80, Some(&admin), "POST", "/admin/users")),
        Decision::Deny(Arc::from("no-admin-writes"))
    );
    let tcp = Subject {
        port: 5432,
        client: Some(as_client(&admin)),
        http: None,
        ..Subject::default()
    };
    assert_eq!(a.check(&tcp), Decision::Deny(Arc::from("no-admin-writes")));
}

#[test]
fn not_forms_addresses_hosts_and_request_principals() {
    let sleep = id("spiffe://td/ns/default/sa/sleep");
    let evil = id("spiffe://td/ns/evil/sa/x");
    let a = authz(
        r#"{"default":"deny","rules":[
            {"name":"no-plaintext","action":"DENY","from":[{"notIdentities":["*"]}]},
            {"name":"no-evil","action":"DENY","from":[{"namespaces":["evil"]}]},
            {"action":"ALLOW","from":[{"notNamespaces":["other"],"ipBlocks":["10.0.0.0/8"],
                "notIpBlocks":["10.9.0.0/16"]}],
             "to":[{"hosts":["web.shop*"],"notMethods":["DELETE"],"notPaths":["/admin*"]}]},
            {"action":"ALLOW","from":[{"requestPrincipals":["https://issuer/*"]}],
             "to":[{"ports":[9090],"notPorts":[9091]}]}]}"#,
    );
    let ip = |s: &str| Some(s.parse().unwrap());
    let req = |client, m, p, src: &str, host| Subject {
        port: 80,
        client: Some(as_client(client)),
        http: Some((m, p)),
        source_ip: ip(src),
        host: Some(host),
        ..Subject::default()
    };
    assert!(allowed(
        &a,
        req(&sleep, "GET", "/x", "10.1.2.3", "web.shop:80")
    ));
    assert!(allowed(
        &a,
        req(&sleep, "GET", "/x", "10.1.2.3", "WEB.shop")
    ));
    assert!(!allowed(
        &a,
        req(&sleep, "DELETE", "/x", "10.1.2.3", "web.shop")
    ));
    assert!(!allowed(
        &a,
        req(&sleep, "GET", "/admin/x", "10.1.2.3", "web.shop")
    ));
    assert!(!allowed(
        &a,
        req(&sleep, "GET", "/x", "10.9.2.3", "web.shop")
    ));
    assert!(!allowed(
        &a,
        req(&sleep, "GET", "/x", "192.168.0.1", "web.shop")
    ));
    assert!(!allowed(
        &a,
        req(&sleep, "GET", "/x", "10.1.2.3", "api.shop")
    ));
    assert_eq!(
        a.check(&req(&evil, "GET", "/x", "10.1.2.3", "web.shop")),
        Decision::Deny(Arc::from("no-evil"))
    );
    let anon = Subject {
        client: None,
        ..req(&sleep, "GET", "/x", "10.1.2.3", "web.shop")
    };
    assert_eq!(a.check(&anon), Decision::Deny(Arc::from("no-plaintext")));
    // Port 9090 needs a request principal: none (no JWT), then a matching one.
    let mut jwt = Subject {
        port: 9090,
        ..req(&sleep, "GET", "/x", "1.1.1.1", "x")
    };
    assert!(!allowed(&a, jwt));
    let auth = RequestAuth {
        principal: "https://issuer/alice".into(),
        ..RequestAuth::default()
    };
    jwt.auth = Some(&auth);
    assert!(allowed(&a, jwt));
    // As a TCP connection the request principal cannot be known: the ALLOW never matches.
    jwt.http = None;
    assert!(!allowed(&a, jwt));
}

#[test]
fn conditions_on_claims_headers_and_addresses() {
    let a = authz(
        r#"{"rules":[
            {"name":"tcp-deny","action":"DENY","when":[{"key":"request.headers[x-block]","values":["*"]}]},
            {"action":"ALLOW","when":[
                {"key":"request.auth.claims[groups]","values":["group1"]},
                {"key":"request.auth.claims[org][team]","notValues":["ops"]},
                {"key":"source.ip","values":["127.0.0.1"]},
                {"key":"destination.port","values":["80"]}]}]}"#,
    );
    let claims = |v: serde_json::Value| RequestAuth {
        principal: "i/s".into(),
        claims: v.as_object().cloned().unwrap(),
        ..RequestAuth::default()
    };
    let g1 = claims(serde_json::json!({"groups": ["group0", "group1"], "org": {"team": "dev"}}));
    let g2 = claims(serde_json::json!({"groups": "group2"}));
    let ops = claims(serde_json::json!({"groups": "group1", "org": {"team": "ops"}}));
    let headers = http::HeaderMap::new();
    let mut blocked = http::HeaderMap::new();
    blocked.insert("x-block", "1".parse().unwrap());
    let subject = |auth, headers| Subject {
        port: 80,
        http: Some(("GET", "/")),
        source_ip: Some("127.0.0.1".parse().unwrap()),
        headers: Some(headers),
        auth: Some(auth),
        ..Subject::default()
    };
    assert!(allowed(&a, subject(&g1, &headers)));
    assert!(!allowed(&a, subject(&g2, &headers)));
    assert!(!allowed(&a, subject(&ops, &headers)));
    assert_eq!(
        a.check(&subject(&g1, &blocked)),
        Decision::Deny(Arc::from("tcp-deny"))
    );
    // A TCP connection has no headers: the DENY on one matches it (fail closed).
    let tcp = Subject {
        port: 80,
        ..Subject::default()
    };
    assert_eq!(a.check(&tcp), Decision::Deny(Arc::from("tcp-deny")));
}
