//! Lessons: TODO.

use super::kit::Run;

pub fn back_pressure(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn greet(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn half_close(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn reuseaddr(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}

pub fn unix(run: &mut Run) -> anyhow::Result<bool> {
    Ok(run.verdict(false, "not written yet"))
}
