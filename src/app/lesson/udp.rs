//! Lessons: TODO.

use super::kit::Run;

pub fn broadcast(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn byte_order(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn echo(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn give_up(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn resolve(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn retry(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn rtt(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn silent_server(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn stale_replies(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn unicode(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}
