//! `resolve` and `byteorder`: lookups and conversions that print and exit.

use super::Out;
use crate::cli::{ByteorderArgs, Cli, CompletionsArgs, FamilyArg, ResolveArgs, ShellArg};
use anyhow::Context;
use netlab::byteorder;
use netlab::error::UsageError;
use netlab::resolve::{self, Family};
use serde_json::json;

pub fn resolve(args: ResolveArgs) -> anyhow::Result<()> {
    let mut out = Out::new();
    if let Some(ip) = args.reverse {
        let found = resolve::reverse(ip)?;
        if args.json {
            out.json(&serde_json::to_value(&found)?)?;
        } else {
            let addrs: Vec<String> = found.addresses.iter().map(ToString::to_string).collect();
            out.line(format!("name: {}", found.name).as_bytes())?;
            out.line(format!("aliases: {}", found.aliases.join(" ")).trim_end().as_bytes())?;
            out.line(format!("addresses: {}", addrs.join(" ")).as_bytes())?;
        }
        return Ok(());
    }
    let Some(name) = args.name else {
        let (host, fqdn) = resolve::host_names().context("cannot read this host's name")?;
        if args.json {
            out.json(&json!({ "hostname": host, "fqdn": fqdn }))?;
        } else {
            out.line(format!("hostname: {host}").as_bytes())?;
            out.line(format!("fqdn: {fqdn}").as_bytes())?;
        }
        return Ok(());
    };
    let family = args.family.map(|f| match f {
        FamilyArg::V4 => Family::V4,
        FamilyArg::V6 => Family::V6,
    });
    for entry in resolve::getaddrinfo(&name, args.service.as_deref(), family)? {
        if args.json {
            out.json(&serde_json::to_value(&entry)?)?;
        } else {
            out.line(entry.to_string().as_bytes())?;
        }
    }
    Ok(())
}

pub fn byteorder(args: ByteorderArgs) -> anyhow::Result<()> {
    let mut out = Out::new();
    if let Some(hex) = args.unpack {
        let value = byteorder::unpack(&hex).map_err(UsageError)?;
        out.line(value.to_string().as_bytes())?;
        return Ok(());
    }
    let value = args
        .value
        .ok_or_else(|| UsageError("a VALUE or --unpack HEX is needed".into()))?;
    let p = byteorder::pack(value);
    let unsigned = u32::from_be_bytes(value.to_be_bytes());
    if value < 0 {
        out.line(format!("value          {value} (unsigned {unsigned})").as_bytes())?;
    } else {
        out.line(format!("value          {value}").as_bytes())?;
    }
    out.line(format!("little-endian  {}", byteorder::hex(&p.little)).as_bytes())?;
    out.line(format!("big-endian     {}", byteorder::hex(&p.big)).as_bytes())?;
    out.line(format!("network        {}", byteorder::hex(&p.network)).as_bytes())?;
    Ok(())
}

pub fn completions(args: CompletionsArgs) -> anyhow::Result<()> {
    use clap::CommandFactory;
    use clap_complete::Shell;
    let shell = match args.shell {
        ShellArg::Bash => Shell::Bash,
        ShellArg::Zsh => Shell::Zsh,
        ShellArg::Fish => Shell::Fish,
        ShellArg::Powershell => Shell::PowerShell,
    };
    // Generated into memory first: the generator gives up loudly on a
    // write error, and a closed stdout must end quietly instead.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "netlab", &mut script);
    let mut out = super::RawOut::new();
    std::io::Write::write_all(&mut out, &script)?;
    std::io::Write::flush(&mut out)?;
    Ok(())
}
