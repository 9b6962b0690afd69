//! Grading someone else's server: TODO.

use super::kit::Run;

pub fn tcp(run: &mut Run, target: &str) -> anyhow::Result<bool> {
    Ok(run.verdict(false, &format!("not written yet: {target}")))
}

pub fn udp(run: &mut Run, target: &str) -> anyhow::Result<bool> {
    Ok(run.verdict(false, &format!("not written yet: {target}")))
}

pub fn framed(run: &mut Run, target: &str) -> anyhow::Result<bool> {
    Ok(run.verdict(false, &format!("not written yet: {target}")))
}

pub fn rpc(run: &mut Run, target: &str) -> anyhow::Result<bool> {
    Ok(run.verdict(false, &format!("not written yet: {target}")))
}

pub fn http(run: &mut Run, target: &str) -> anyhow::Result<bool> {
    Ok(run.verdict(false, &format!("not written yet: {target}")))
}
