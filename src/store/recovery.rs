//! Crash recovery at open: training runs left `running` by a process that no longer exists
//! (killed, crashed, power cut) are marked failed ("interrupted"), so the lead sees what
//! happened. A run records its owner (host, pid, the process's start time) in its params; a run
//! whose owner is alive on this host is left alone, so opening a project while another process
//! trains in it does not fail that training. Runs of another host cannot be checked and are
//! left as they are; runs without an owner (older files) count as interrupted.

use super::db::Exec;
use serde::{Deserialize, Serialize};

use super::{now, Result, Store};

/// Who runs a training job: enough to tell later whether that process is still alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub host: String,
    pub pid: u32,
    /// Start time of the process (clock ticks after boot, /proc/PID/stat field 22): tells a
    /// reused pid from the original process.
    pub start: Option<u64>,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| std::env::var("HOSTNAME").unwrap_or_default())
}

/// (state, start time) of a process from /proc/PID/stat; None when there is no such process.
fn proc_stat(pid: u32) -> Option<(char, Option<u64>)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let state = f.first()?.chars().next()?;
    // After ')' the fields start at 3 (state); starttime is field 22.
    Some((state, f.get(19).and_then(|x| x.parse().ok())))
}

impl Owner {
    /// This process.
    pub fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            host: hostname(),
            pid,
            start: proc_stat(pid).and_then(|s| s.1),
        }
    }

    /// Whether this owner is certainly gone: same host, and no live process with that pid and
    /// start time. `false` when it may be alive or cannot be checked (another host).
    pub fn is_gone(&self) -> bool {
        if self.host != hostname() {
            return false;
        }
        match proc_stat(self.pid) {
            None if std::path::Path::new("/proc/self/stat").exists() => true,
            // No /proc: ask the kernel whether the pid exists.
            None => {
                // SAFETY: kill with signal 0 only checks for the process; it sends nothing.
                let r = unsafe { libc::kill(self.pid as libc::pid_t, 0) };
                r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
            }
            Some(('Z', _)) | Some(('X', _)) => true,
            Some((_, start)) => matches!((self.start, start), (Some(a), Some(b)) if a != b),
        }
    }

    /// The JSON recorded in a run's params under `owner`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl Store {
    /// Mark runs left `running` by a process that is gone as failed ("interrupted"). Returns the
    /// ids marked. Called by [`Store::open`]; cheap when nothing is running (one read).
    pub fn recover_interrupted_runs(&self) -> Result<Vec<i64>> {
        let running: Vec<(i64, String)> = self.db().query(
            "SELECT id, params_json FROM training_runs WHERE status = 'running'",
            &[],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let mut failed = Vec::new();
        for (id, params_json) in running {
            let owner: Option<Owner> = serde_json::from_str::<serde_json::Value>(&params_json)
                .ok()
                .and_then(|p| p.get("owner").cloned())
                .and_then(|o| serde_json::from_value(o).ok());
            let gone = owner.as_ref().map(Owner::is_gone).unwrap_or(true);
            if !gone {
                continue;
            }
            let n = self.db().execute(
                "UPDATE training_runs SET status = 'failed',
                        error = 'interrupted (the process ended during training)', finished_at = ?2
                 WHERE id = ?1 AND status = 'running'",
                &[&id, &now()],
            )?;
            if n == 1 {
                failed.push(id);
            }
        }
        Ok(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_pid_is_gone() {
        let me = Owner::current();
        assert!(me.pid > 0 && me.start.is_some());
        assert!(!me.is_gone());
        // A reused pid (same pid, other start time) is not the owner.
        assert!(Owner {
            start: me.start.map(|s| s + 1),
            ..me.clone()
        }
        .is_gone());
        // Another host cannot be judged.
        assert!(!Owner {
            host: "elsewhere.invalid".into(),
            pid: 1,
            start: None
        }
        .is_gone());
        // A child that has exited and been reaped is gone.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(Owner {
            host: hostname(),
            pid,
            start: Some(0)
        }
        .is_gone());
    }
}
