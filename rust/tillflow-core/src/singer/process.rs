//! A tap as a child process: its stdout read as messages, the last lines of
//! its stderr kept for the error when it fails, killed if dropped early.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::error::{CoreError, Result};

pub struct Tap {
    name: String,
    child: Child,
    stderr: Arc<Mutex<VecDeque<String>>>,
    stderr_reader: Option<JoinHandle<()>>,
}

impl Tap {
    /// Starts `argv` (the executable and its arguments) in `cwd`; returns the
    /// process and its stdout.
    pub fn spawn(
        name: &str,
        argv: &[String],
        cwd: Option<&str>,
        keep_lines: usize,
    ) -> Result<(Tap, Box<dyn Read + Send>)> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| CoreError::config("command", "must name the tap's executable"))?;
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = cwd {
            command.current_dir(dir);
        }
        let mut child = command.spawn().map_err(|e| CoreError::Tap {
            tap: name.to_string(),
            message: format!("cannot start {program:?}: {e}"),
        })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::new(Mutex::new(VecDeque::with_capacity(keep_lines)));
        let kept = Arc::clone(&lines);
        // Drained on its own thread, so a tap that logs a lot never blocks on a full pipe.
        let reader = std::thread::Builder::new()
            .name(format!("{name}-stderr"))
            .spawn(move || keep_last_lines(stderr, &kept, keep_lines))
            .map_err(|e| CoreError::Internal(format!("cannot start a thread: {e}")))?;
        Ok((
            Tap {
                name: name.to_string(),
                child,
                stderr: lines,
                stderr_reader: Some(reader),
            },
            Box::new(stdout),
        ))
    }

    /// Waits for the tap to exit (its stdout is read to its end); a failure
    /// names the exit status and carries its last stderr lines.
    pub fn finish(&mut self) -> Result<()> {
        let status = self.child.wait().map_err(|e| CoreError::Tap {
            tap: self.name.clone(),
            message: format!("cannot wait for the tap: {e}"),
        })?;
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        if status.success() {
            return Ok(());
        }
        Err(CoreError::Tap {
            tap: self.name.clone(),
            message: format!("{}{}", describe(status), self.stderr_tail()),
        })
    }

    /// Stops the tap now (after an error of ours, or when the stream is dropped).
    pub fn kill(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
    }

    /// The last lines the tap wrote to stderr, as the tail of an error message.
    pub fn stderr_tail(&self) -> String {
        let lines = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        if lines.is_empty() {
            return "; it wrote nothing to stderr".into();
        }
        let mut out = String::from("; the last lines of its stderr:");
        for line in lines.iter() {
            out.push_str("\n  ");
            out.push_str(line);
        }
        out
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.kill();
    }
}

fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("the tap was killed by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("the tap exited with status {code}"),
        None => "the tap failed".into(),
    }
}

/// Longest stderr line kept whole; the rest is cut with a mark.
const MAX_LINE: usize = 2000;

fn keep_last_lines(stderr: impl Read, lines: &Mutex<VecDeque<String>>, keep: usize) {
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        while let [head @ .., b'\n' | b'\r'] = buf.as_slice() {
            buf.truncate(head.len());
        }
        if keep == 0 || buf.is_empty() {
            continue;
        }
        let mut line = String::from_utf8_lossy(&buf).into_owned();
        if line.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push_str(" …");
        }
        let mut kept = lines.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() == keep {
            kept.pop_front();
        }
        kept.push_back(line);
    }
}
