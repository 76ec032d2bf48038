//! The standard `process_*` metrics (CPU, memory, file descriptors, start time), read from
//! `/proc` at each scrape, as linkerd2-proxy and the Prometheus client libraries export them.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Clock ticks per second of `/proc` times: USER_HZ, 100 on every Linux ABI.
const TICKS: f64 = 100.0;

/// The process metrics of this process; register it with `Registry::register_collector`.
#[derive(Debug, Default)]
pub struct Process;

/// What `/proc` says about this process.
#[derive(Debug, Default, PartialEq)]
struct Reading {
    cpu_seconds: f64,
    start_time_seconds: f64,
    virtual_bytes: f64,
    resident_bytes: f64,
    open_fds: f64,
    max_fds: f64,
}

/// Fields of `/proc/self/stat` after the command (which may hold spaces), counted from
/// field 3 (`state`) as 0.
fn stat_fields(stat: &str) -> Vec<&str> {
    let after = stat.rfind(')').map_or(stat, |i| &stat[i + 1..]);
    after.split_whitespace().collect()
}

/// `Max open files`' soft limit in `/proc/self/limits`.
fn max_fds(limits: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    // "unlimited" has no number; Prometheus clients leave the metric out then too.
    soft.parse().ok()
}

/// `name:  N kB` of `/proc/self/status`, in bytes.
fn status_bytes(status: &str, name: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    let kb: f64 = line[name.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024.0)
}

fn read(stat: &str, proc_stat: &str, status: &str, limits: &str, open_fds: usize) -> Reading {
    let f = stat_fields(stat);
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime (fields 14, 15), starttime (22): ticks; the boot time from /proc/stat.
    let boot: f64 = (proc_stat.lines())
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    Reading {
        cpu_seconds: (num(11) + num(12)) / TICKS,
        start_time_seconds: boot + num(19) / TICKS,
        virtual_bytes: status_bytes(status, "VmSize:").unwrap_or(0.0),
        resident_bytes: status_bytes(status, "VmRSS:").unwrap_or(0.0),
        open_fds: open_fds as f64,
        max_fds: max_fds(limits).unwrap_or(0.0),
    }
}

impl Reading {
    fn now() -> Self {
        let file = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
        read(
            &file("/proc/self/stat"),
            &file("/proc/stat"),
            &file("/proc/self/status"),
            &file("/proc/self/limits"),
            fds,
        )
    }
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, v: f64) -> std::fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)
}

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let r = Reading::now();
        let cpu = ConstCounter::new(r.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            None,
            cpu.metric_type(),
        )?)?;
        let e = &mut encoder;
        gauge(
            e,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            r.start_time_seconds,
        )?;
        gauge(
            e,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            r.virtual_bytes,
        )?;
        gauge(
            e,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            r.resident_bytes,
        )?;
        gauge(
            e,
            "process_open_fds",
            "Number of open file descriptors.",
            r.open_fds,
        )?;
        gauge(
            e,
            "process_max_fds",
            "Maximum number of open file descriptors.",
            r.max_fds,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_read_into_the_process_metrics() {
        // A command with spaces and a parenthesis, as `comm` may hold.
        let stat = "42 (my (proxy) x) S 1 42 42 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 4 0 \
                    1000 120000000 3000 18446744073709551615";
        let status = "Name:\tmeshctl\nVmSize:\t  117188 kB\nVmRSS:\t    8192 kB\n";
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        let r = read(stat, "cpu 1 2 3\nbtime 1700000000\n", status, limits, 9);
        assert_eq!(
            r,
            Reading {
                cpu_seconds: 3.0,
                start_time_seconds: 1_700_000_010.0,
                virtual_bytes: 117_188.0 * 1024.0,
                resident_bytes: 8192.0 * 1024.0,
                open_fds: 9.0,
                max_fds: 1024.0,
            }
        );
    }

    #[test]
    fn this_process_has_a_resident_size_and_open_files() {
        let r = Reading::now();
        assert!(
            r.resident_bytes > 0.0 && r.virtual_bytes >= r.resident_bytes,
            "{r:?}"
        );
        assert!(r.open_fds >= 3.0 && r.max_fds >= r.open_fds, "{r:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            r.start_time_seconds > 1e9 && r.start_time_seconds <= now + 1.0,
            "{r:?}"
        );
    }
}
