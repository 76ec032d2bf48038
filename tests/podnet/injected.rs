//! The init step exactly as `meshctl inject` wrote it, run in a pod: the annotations'
//! skips take effect and the two injected containers agree on ports and uid.

use std::net::SocketAddr;

use crate::net::{Greeter, Says, dial, dial_as};
use crate::node_or_skip;
use crate::spec::Injected;

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("socket address")
}

#[test]
fn the_injected_init_step_intercepts_what_the_annotations_say() {
    let Some(node) = node_or_skip("injected_init_step", &["a", "b"]) else {
        return;
    };
    let (a, b) = (node.pod("a"), node.pod("b"));
    let injected = Injected::from_fixture("b.yaml", b);
    let (init, proxy) = (&injected.init, &injected.proxy);

    // The init step and the proxy must agree, or traffic is lost or loops.
    assert_eq!(init.args.first().map(String::as_str), Some("proxy-init"));
    assert_eq!(
        init.flag("--proxy-uid"),
        Some(proxy.run_as_user.to_string().as_str())
    );
    let port_of = |var: &str| proxy.env[var].rsplit(':').next().map(str::to_owned);
    assert_eq!(
        init.flag("--outbound-port").map(str::to_owned),
        port_of("MESHCTL_PROXY_OUTBOUND_ADDR")
    );
    assert_eq!(
        init.flag("--inbound-port").map(str::to_owned),
        port_of("MESHCTL_PROXY_INBOUND_ADDR")
    );
    assert_eq!(
        init.flag("--admin-port").map(str::to_owned),
        port_of("MESHCTL_PROXY_ADMIN_ADDR")
    );
    assert_eq!(proxy.env["MESHCTL_POD_IP"], b.ip.to_string());

    b.run_init(init);
    let _apps = [
        Greeter::start(a, addr("[::]:8080"), Says::Name("a-app")),
        Greeter::start(a, addr("[::]:3306"), Says::Name("a-db")),
        Greeter::start(b, addr("[::]:2222"), Says::Name("b-ssh")),
        Greeter::start(b, addr("[::]:4191"), Says::Name("b-admin")),
    ];
    let _b_proxy = [
        Greeter::start(b, addr("127.0.0.1:4140"), Says::OriginalDst("b-outbound")),
        Greeter::start(b, addr("[::]:4143"), Says::OriginalDst("b-inbound")),
    ];
    let b_ip = b.ip;
    assert_eq!(
        dial(a, SocketAddr::new(b_ip.into(), 8080)),
        format!("b-inbound for {b_ip}:8080")
    );
    assert_eq!(
        dial(a, SocketAddr::new(b_ip.into(), 2222)),
        "b-ssh",
        "skip-inbound-ports"
    );
    assert_eq!(
        dial(a, SocketAddr::new(b_ip.into(), 4191)),
        "b-admin",
        "the admin port"
    );
    let a_ip = a.ip;
    assert_eq!(
        dial(b, SocketAddr::new(a_ip.into(), 8080)),
        format!("b-outbound for {a_ip}:8080")
    );
    assert_eq!(
        dial(b, SocketAddr::new(a_ip.into(), 3306)),
        "a-db",
        "skip-outbound-ports"
    );
    let uid = proxy.run_as_user;
    assert_eq!(
        dial_as(b, uid, SocketAddr::new(a_ip.into(), 8080)),
        "a-app",
        "the proxy's uid"
    );
}
