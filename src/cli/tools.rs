//! `resolve` and `byteorder`.

use clap::{Args, ValueEnum};
use std::net::IpAddr;

pub const RESOLVE_EXAMPLES: &str = "\
Examples:
  netlab resolve                         # this host's name and fully qualified name
  netlab resolve localhost               # family, socket type, protocol, address
  netlab resolve example.org https --family 6
  netlab resolve --reverse 127.0.0.1     # name, aliases, addresses (gethostbyaddr)";

/// `resolve` flags.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// Name to look up; without it, show this host's names
    pub name: Option<String>,
    /// Service name or port, e.g. http or 80
    pub service: Option<String>,
    /// Only IPv4 (4) or IPv6 (6) results
    #[arg(long, value_enum)]
    pub family: Option<FamilyArg>,
    /// Reverse lookup of an IP address
    #[arg(long, value_name = "IP", conflicts_with_all = ["name", "service"])]
    pub reverse: Option<IpAddr>,
    /// One JSON object per result
    #[arg(long)]
    pub json: bool,
}

/// `--family` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FamilyArg {
    /// IPv4
    #[value(name = "4")]
    V4,
    /// IPv6
    #[value(name = "6")]
    V6,
}

pub const BYTEORDER_EXAMPLES: &str = "\
Examples:
  netlab byteorder 1234                  # d2 04 00 00 / 00 00 04 d2 / 00 00 04 d2
  netlab byteorder -- -2                 # negative values after --
  netlab byteorder 0x4d2                 # hex; unsigned values up to 4294967295 too
  netlab byteorder --unpack '00 00 04 d2'  # 1234";

/// `byteorder` flags.
#[derive(Debug, Args)]
pub struct ByteorderArgs {
    /// A 32-bit integer: signed (-2), unsigned up to 4294967295, or hex (0x4d2)
    #[arg(allow_negative_numbers = true, required_unless_present = "unpack", value_parser = netlab::byteorder::parse_value)]
    pub value: Option<i32>,
    /// Read 4 hex bytes in network order back into the integer
    #[arg(long, value_name = "HEX", conflicts_with = "value")]
    pub unpack: Option<String>,
}

pub const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  netlab completions bash > ~/.local/share/bash-completion/completions/netlab
  netlab completions zsh > \"${fpath[1]}/_netlab\"
  netlab completions fish > ~/.config/fish/completions/netlab.fish
  netlab completions powershell >> $PROFILE";

/// `completions` flags.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: ShellArg,
}

/// `completions` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ShellArg {
    /// Bash
    Bash,
    /// Zsh
    Zsh,
    /// Fish
    Fish,
    /// PowerShell
    Powershell,
}
