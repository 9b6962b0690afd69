//! Lessons: TODO.

use super::kit::Run;

pub fn browser_head(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn dotdot(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn faults(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn http_nagle(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn keep_alive(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn ranges(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn rpc(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn rpc_wire(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn tls_handshake(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn web_server(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}
