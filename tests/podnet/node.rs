//! A small node on one machine: a bridge in a "node" network namespace and pods as
//! network namespaces wired to it with veth pairs. Every address lives only inside
//! namespaces made here; names are unique per run and everything is removed on drop.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sched::{CloneFlags, setns};

/// Namespace names start with this, then the test process id: leftovers of dead runs
/// are recognised and removed.
const PREFIX: &str = "meshpn-";

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// One pod: a network namespace with eth0 on the node's bridge.
pub struct Pod {
    pub name: String,
    pub netns: String,
    pub ip: Ipv4Addr,
    pub ip6: Ipv6Addr,
    /// The `<name>-service` address.
    pub service_ip: Ipv4Addr,
    children: Mutex<Vec<Child>>,
}

pub struct Node {
    netns: String,
    pub pods: Vec<Pod>,
    /// The lock held and the host end's name while the bridge is linked to this machine's
    /// namespace (see `link_host`).
    host_link: Option<(File, String)>,
}

impl Node {
    /// Builds a node with one pod per name, the i-th at 10.213.0.(10+i) and
    /// fd00:213::(10+i). Each pod's /etc/hosts names every pod, and `<name>-service` at
    /// the service IP 10.213.1.(10+i): routed to eth0 but owned by nobody, like a cluster
    /// IP without kube-proxy, so only an intercepting proxy can reach it.
    pub fn new(names: &[&str]) -> Node {
        remove_leftovers();
        let id = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut node = Node {
            netns: format!("{id}-node"),
            pods: Vec::new(),
            host_link: None,
        };
        ip(&["netns", "add", &node.netns]);
        ipn(&node.netns, &["link", "set", "lo", "up"]);
        ipn(&node.netns, &["link", "add", "br0", "type", "bridge"]);
        ipn(&node.netns, &["link", "set", "br0", "up"]);
        for (i, name) in names.iter().enumerate() {
            let host = u8::try_from(10 + i).expect("fewer than 240 pods");
            let pod = Pod {
                name: (*name).to_owned(),
                netns: format!("{id}-{name}"),
                ip: Ipv4Addr::new(10, 213, 0, host),
                ip6: Ipv6Addr::new(0xfd00, 0x213, 0, 0, 0, 0, 0, u16::from(host)),
                service_ip: Ipv4Addr::new(10, 213, 1, host),
                children: Mutex::new(Vec::new()),
            };
            // Pushed before wiring so a failure below still tears this pod down.
            ip(&["netns", "add", &pod.netns]);
            node.pods.push(pod);
            let pod = node.pods.last().expect("just pushed");
            let peer = format!("v{i}");
            ipn(&pod.netns, &["link", "set", "lo", "up"]);
            ipn(
                &pod.netns,
                &[
                    "link",
                    "add",
                    "eth0",
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &peer,
                    "netns",
                    &node.netns,
                ],
            );
            ipn(&node.netns, &["link", "set", &peer, "master", "br0", "up"]);
            ipn(
                &pod.netns,
                &["addr", "add", &format!("{}/24", pod.ip), "dev", "eth0"],
            );
            ipn(
                &pod.netns,
                &[
                    "addr",
                    "add",
                    &format!("{}/64", pod.ip6),
                    "dev",
                    "eth0",
                    "nodad",
                ],
            );
            ipn(&pod.netns, &["link", "set", "eth0", "up"]);
            ipn(
                &pod.netns,
                &["route", "add", "10.213.1.0/24", "dev", "eth0"],
            );
        }
        let mut hosts = String::from("127.0.0.1 localhost\n::1 localhost\n");
        for pod in &node.pods {
            hosts.push_str(&format!(
                "{} {}\n{} {}-service\n",
                pod.ip, pod.name, pod.service_ip, pod.name
            ));
        }
        for pod in &node.pods {
            std::fs::create_dir_all(pod.etc_dir()).expect("create /etc/netns/<pod>");
            std::fs::write(pod.etc_dir().join("hosts"), &hosts).expect("write hosts");
        }
        node
    }

    /// Wires the bridge to this machine's own network namespace, which gets the address
    /// 10.213.0.1/24, so processes outside the pods (a kube-apiserver proxying to a pod) reach
    /// pods at their addresses. The link goes when the node does. Holds a machine-wide lock
    /// until the node is dropped: only one node at a time may own that route.
    pub fn link_host(&mut self) {
        let lock =
            File::create("/run/meshctl-podnet-host-link.lock").expect("create the lock file");
        lock.lock().expect("lock the host link");
        let host_end = format!("mpnh{}", std::process::id());
        ip(&[
            "link",
            "add",
            &host_end,
            "type",
            "veth",
            "peer",
            "name",
            "host",
            "netns",
            &self.netns,
        ]);
        ipn(&self.netns, &["link", "set", "host", "master", "br0", "up"]);
        ip(&["addr", "add", "10.213.0.1/24", "dev", &host_end]);
        ip(&["link", "set", &host_end, "up"]);
        self.host_link = Some((lock, host_end));
    }

    pub fn pod(&self, name: &str) -> &Pod {
        self.pods
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no pod {name} on this node"))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Before the lock goes: deleting the namespace removes the link only eventually.
        if let Some((_lock, host_end)) = &self.host_link {
            let _ = run_quiet("ip", &["link", "del", host_end]);
        }
        for pod in &self.pods {
            pod.stop_all();
            let _ = std::fs::remove_dir_all(pod.etc_dir());
            let _ = run_quiet("ip", &["netns", "del", &pod.netns]);
        }
        let _ = run_quiet("ip", &["netns", "del", &self.netns]);
    }
}

impl Pod {
    fn etc_dir(&self) -> PathBuf {
        PathBuf::from("/etc/netns").join(&self.netns)
    }

    /// `program args…` run inside this pod (with its /etc/hosts), not yet started.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns, program]);
        cmd
    }

    /// Runs `program args` in the pod to completion.
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        self.command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {program} in {}: {e}", self.name))
    }

    /// Starts a long-running process in the pod; it is killed when the node is dropped.
    pub fn spawn(&self, mut cmd: Command) -> u32 {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {cmd:?} in {}: {e}", self.name));
        let pid = child.id();
        self.children.lock().expect("children").push(child);
        pid
    }

    /// Kills one process started with `spawn` (a pod dying mid-test).
    pub fn kill(&self, pid: u32) {
        let mut children = self.children.lock().expect("children");
        if let Some(pos) = children.iter().position(|c| c.id() == pid) {
            let mut child = children.remove(pos);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Takes the pod off the network (its eth0 is deleted), as when a pod is deleted:
    /// packets to its address go unanswered.
    pub fn unplug(&self) {
        ipn(&self.netns, &["link", "del", "eth0"]);
    }

    fn stop_all(&self) {
        for mut child in self
            .children
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs `f` on a thread that has entered this pod's network namespace: sockets it
    /// opens belong to the pod (and keep doing so on any thread).
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.netns);
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let ns = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
                    setns(&ns, CloneFlags::CLONE_NEWNET)
                        .unwrap_or_else(|e| panic!("enter {path}: {e}"));
                    f()
                })
                .join()
                .expect("thread in the pod's namespace panicked")
        })
    }

    pub fn addr(&self, v6: bool) -> IpAddr {
        if v6 { self.ip6.into() } else { self.ip.into() }
    }
}

/// `ip args`, panicking with ip's message on failure (setup must not half-succeed).
fn ip(args: &[&str]) {
    let out = run_quiet("ip", args).unwrap_or_else(|e| panic!("run ip: {e}"));
    assert!(
        out.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ip -n NETNS args`.
fn ipn(netns: &str, args: &[&str]) {
    let mut all = vec!["-n", netns];
    all.extend(args);
    ip(&all);
}

pub fn run_quiet(program: &str, args: &[&str]) -> std::io::Result<Output> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
}

/// Removes namespaces (and their /etc/netns files) left by test runs that died.
fn remove_leftovers() {
    let Ok(out) = run_quiet("ip", &["netns", "list"]) else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty() && !std::path::Path::new("/proc").join(pid).exists() {
            let _ = run_quiet("ip", &["netns", "del", name]);
            let _ = std::fs::remove_dir_all(PathBuf::from("/etc/netns").join(name));
        }
    }
}
