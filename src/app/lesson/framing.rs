//! Lessons: TODO.

use super::kit::Run;

pub fn framing(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn length_claim(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn nagle(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn one_recv(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn zlib(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}
