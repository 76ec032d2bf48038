//! Real interception: with proxy-init's rules in a pod, connections land on stand-in
//! proxy listeners that read the original destination, except what must bypass.

use std::net::SocketAddr;

use crate::net::{Greeter, Says, dial, dial_as};
use crate::node::{Node, Pod};
use crate::{meshctl, node_or_skip};

fn proxy_init(pod: &Pod, extra: &[&str]) {
    let mut args = vec!["proxy-init"];
    args.extend(extra);
    let out = pod.run(meshctl(), &args);
    assert!(
        out.status.success(),
        "proxy-init in {}: {}",
        pod.name,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn at(pod: &Pod, v6: bool, port: u16) -> SocketAddr {
    SocketAddr::new(pod.addr(v6), port)
}

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("socket address")
}

/// Pods a and b; b runs apps on 8080 and 3306 (dual-stack).
fn two_pods(test: &str) -> Option<(Node, Vec<Greeter>)> {
    let node = node_or_skip(test, &["a", "b"])?;
    let b = node.pod("b");
    let apps = vec![
        Greeter::start(b, addr("[::]:8080"), Says::Name("b-app")),
        Greeter::start(b, addr("[::]:3306"), Says::Name("b-db")),
    ];
    Some((node, apps))
}

#[test]
fn outbound_tcp_lands_on_the_outbound_port_with_its_original_destination() {
    let Some((node, _apps)) = two_pods("outbound_interception") else {
        return;
    };
    let (a, b) = (node.pod("a"), node.pod("b"));
    assert_eq!(
        dial(a, at(b, false, 8080)),
        "b-app",
        "before proxy-init: direct"
    );
    proxy_init(a, &[]);
    let _proxy = [
        Greeter::start(a, addr("127.0.0.1:4140"), Says::OriginalDst("a-outbound")),
        Greeter::start(a, addr("[::1]:4140"), Says::OriginalDst("a-outbound")),
    ];
    assert_eq!(
        dial(a, at(b, false, 8080)),
        "a-outbound for 10.213.0.11:8080"
    );
    assert_eq!(
        dial(a, at(b, false, 3306)),
        "a-outbound for 10.213.0.11:3306"
    );
    assert_eq!(
        dial(a, at(b, true, 8080)),
        "a-outbound for [fd00:213::b]:8080"
    );
    // Even an address nobody has is intercepted: the proxy decides what to do with it.
    assert_eq!(
        dial(a, addr("10.213.0.99:80")),
        "a-outbound for 10.213.0.99:80"
    );
}

#[test]
fn the_proxy_uid_skip_ports_and_skip_cidrs_bypass_interception() {
    let Some((node, _apps)) = two_pods("outbound_bypass") else {
        return;
    };
    let (a, b) = (node.pod("a"), node.pod("b"));
    proxy_init(a, &["--skip-outbound-ports", "3306"]);
    let _proxy = Greeter::start(a, addr("127.0.0.1:4140"), Says::OriginalDst("a-outbound"));
    let b8080 = at(b, false, 8080);
    assert_eq!(
        dial_as(a, 0, b8080),
        "a-outbound for 10.213.0.11:8080",
        "root is intercepted"
    );
    assert_eq!(dial_as(a, 2102, b8080), "b-app", "the proxy's uid is not");
    assert_eq!(dial(a, at(b, false, 3306)), "b-db", "a skipped port is not");

    proxy_init(
        a,
        &["--skip-outbound-cidrs", "10.213.0.0/28,fd00:213::/120"],
    );
    assert_eq!(dial(a, b8080), "b-app", "a skipped CIDR is not");
    assert_eq!(
        dial(a, at(b, true, 8080)),
        "b-app",
        "a skipped IPv6 CIDR is not"
    );

    proxy_init(a, &["--cleanup"]);
    assert_eq!(
        dial(a, b8080),
        "b-app",
        "after cleanup nothing is intercepted"
    );
}

#[test]
fn inbound_tcp_lands_on_the_inbound_port_except_admin_and_skip_ports() {
    let Some((node, _apps)) = two_pods("inbound_interception") else {
        return;
    };
    let (a, b) = (node.pod("a"), node.pod("b"));
    proxy_init(b, &["--skip-inbound-ports", "3306"]);
    let _b = [
        Greeter::start(b, addr("[::]:4143"), Says::OriginalDst("b-inbound")),
        Greeter::start(b, addr("[::]:4191"), Says::Name("b-admin")),
    ];
    assert_eq!(
        dial(a, at(b, false, 8080)),
        "b-inbound for 10.213.0.11:8080"
    );
    assert_eq!(
        dial(a, at(b, true, 8080)),
        "b-inbound for [fd00:213::b]:8080"
    );
    assert_eq!(
        dial(a, at(b, false, 4191)),
        "b-admin",
        "the admin port is not intercepted"
    );
    assert_eq!(
        dial(a, at(b, false, 3306)),
        "b-db",
        "a skipped inbound port is not"
    );
    assert_eq!(dial(a, at(b, true, 3306)), "b-db");
}

#[test]
fn an_app_calling_its_own_pod_ip_is_direct_and_the_proxy_doing_so_goes_inbound() {
    let Some(node) = node_or_skip("own_pod_ip", &["a"]) else {
        return;
    };
    let a = node.pod("a");
    proxy_init(a, &[]);
    let _a = [
        Greeter::start(a, addr("[::]:8080"), Says::Name("a-app")),
        Greeter::start(a, addr("127.0.0.1:4140"), Says::OriginalDst("a-outbound")),
        Greeter::start(a, addr("[::]:4143"), Says::OriginalDst("a-inbound")),
    ];
    let own = at(a, false, 8080);
    assert_eq!(
        dial(a, own),
        "a-app",
        "the app reaches itself on its pod IP"
    );
    assert_eq!(dial(a, addr("127.0.0.1:8080")), "a-app", "and on loopback");
    // The proxy picking its own pod as an endpoint goes through the inbound side, so
    // inbound policy applies to it as to any peer; its loopback forward stays direct.
    assert_eq!(dial_as(a, 2102, own), "a-inbound for 10.213.0.10:8080");
    assert_eq!(dial_as(a, 2102, addr("127.0.0.1:8080")), "a-app");
}
