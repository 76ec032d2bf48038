//! `meshctl top`: the busiest requests of a resource's pods, live, from the same `/tap`
//! streams as `tap`: a table redrawn in place on a terminal, snapshots one after another
//! otherwise, and the last one when the taps end.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use meshctl::model::duration::Duration;
use meshctl::tap::top::Top;

use super::tap::{Ending, Opened, TapTarget};
use super::{GlobalArgs, control_plane};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  meshctl top deploy/web -n shop           web's busiest paths, redrawn every 2 s
  meshctl top deploy/web --limit 500       until 500 requests were seen

Requests are counted by direction, method, authority and path as the proxies' /tap streams \
show them (see `meshctl tap --help` for the filters and the rights it needs).")]
pub struct TopArgs {
    #[command(flatten)]
    target: TapTarget,
    /// How often the table is drawn
    #[arg(long, default_value = "2s", value_name = "DURATION")]
    interval: Duration,
    /// Rows shown
    #[arg(long, default_value_t = 20, value_name = "N")]
    rows: usize,
}

fn table(top: &Top, rows: usize) -> comfy_table::Table {
    let mut table = super::stdout_table();
    table.set_header([
        "DIRECTION",
        "METHOD",
        "AUTHORITY",
        "PATH",
        "COUNT",
        "SUCCESS",
        "LATENCY_MEAN",
        "LATENCY_MAX",
    ]);
    for (key, row) in top.busiest(rows) {
        let success = row
            .success_rate()
            .map_or_else(|| "-".to_owned(), |r| format!("{:.2}%", r * 100.0));
        let mean = row
            .mean_latency_ms()
            .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.1}ms"));
        table.add_row([
            key.direction.clone(),
            key.method.clone(),
            key.authority.clone(),
            key.path.clone(),
            row.count.to_string(),
            success,
            mean,
            format!("{:.1}ms", row.latency_max_ms),
        ]);
    }
    table
}

pub fn run(args: TopArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    if args.interval.get().is_zero() || args.rows == 0 {
        return Err(super::stat::usage(
            "--interval and --rows must be more than 0",
        ));
    }
    let runtime = control_plane::runtime()?;
    let Opened {
        mut lines,
        proxies,
        limit,
    } = args.target.open(&[], global, &runtime)?;
    let redraw = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut top = Top::default();
    let mut ending = Ending::default();
    let mut tick = runtime.block_on(async { tokio::time::interval(args.interval.get()) });
    let mut drawn = 0;
    let draw = |top: &Top| -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        if redraw {
            write!(out, "\x1b[2J\x1b[H")?;
        }
        writeln!(out, "{}\n", table(top, args.rows))?;
        Ok(out.flush()?)
    };
    loop {
        // Past the limit only the streams' last lines are waited for (briefly).
        let next = runtime.block_on(async {
            if ending.events >= limit {
                return Some(ending.next(&mut lines, limit).await);
            }
            tokio::select! {
                line = ending.next(&mut lines, limit) => Some(line),
                _ = tick.tick() => None,
            }
        });
        match next {
            Some(Some((_, event))) => top.add(&event),
            Some(None) => break,
            None if top.events > drawn => {
                draw(&top)?;
                drawn = top.events;
            }
            None => {}
        }
    }
    if top.events > drawn || top.events == 0 {
        draw(&top)?;
    }
    ending.finish(proxies, "top")
}
