//! `lesson`: every lesson run by itself, narrated, with its verdict.

use clap::Args;

pub const LESSON_EXAMPLES: &str = "\
Examples:
  netlab lesson                          # every lesson: name, seconds, what it teaches
  netlab lesson sequential               # run it: steps on stdout, then `verdict: ok — ...`
  netlab lesson nagle --step             # guess what happens before each step (Enter to go on)
  netlab lesson thread --json            # one JSON object per event, for grading or plotting
  netlab lesson sequential --control     # the cause removed: the effect must not appear
  netlab lesson framing --against 127.0.0.1:9000   # grade someone else's framed server
  netlab -v lesson half-close            # the children's socket calls too, on stderr
Exit: 0 when the verdict is ok, 1 when it is unexpected, 2 for an unknown NAME.";

/// `lesson` flags.
#[derive(Debug, Args)]
pub struct LessonArgs {
    /// The lesson to run; without it, list them all
    pub name: Option<String>,
    /// Before each step, ask what you expect and wait for Enter (only on a terminal)
    #[arg(long, conflicts_with = "json")]
    pub step: bool,
    /// One JSON object per event: {"step", "t_ms", "kind": "start|observe|verdict", "text", "data"}
    #[arg(long)]
    pub json: bool,
    /// The control experiment: the same steps with the cause removed, so the verdict must say unexpected
    #[arg(long, conflicts_with = "against")]
    pub control: bool,
    /// Run the client half against a server someone else wrote and grade it, check by check (half-close, udp-echo, framing, rpc, web-server)
    #[arg(long, value_name = "HOST:PORT", requires = "name")]
    pub against: Option<String>,
}
