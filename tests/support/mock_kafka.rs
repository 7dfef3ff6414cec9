//! librdkafka's mock cluster in a process of its own (`tributary mock-kafka`), so that a test
//! can SIGKILL `tributary run` and read what the broker kept. It offers transactions and
//! `read_committed` consumers, but hides no aborted transaction from them (TEST-ENV.md).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};

use super::tributary;

/// A running mock cluster; killed when dropped.
pub struct MockKafka {
    child: Child,
    /// Its brokers, `host:port,...`.
    pub servers: String,
    commands: ChildStdin,
    answers: BufReader<ChildStdout>,
}

impl MockKafka {
    /// Starts a mock cluster of `brokers` brokers with `topics` (`NAME[:PARTITIONS]`; the
    /// checkpoint topic is always made) and waits for its addresses.
    pub fn start(brokers: u32, topics: &[&str]) -> MockKafka {
        let mut cmd = tributary();
        cmd.args(["mock-kafka", "--brokers", &brokers.to_string()])
            .args(["--topic", "__tributary_checkpoints"]);
        for t in topics {
            cmd.args(["--topic", t]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tributary mock-kafka");
        let mut answers = BufReader::new(child.stdout.take().expect("piped stdout"));
        let commands = child.stdin.take().expect("piped stdin");
        let mut line = String::new();
        answers.read_line(&mut line).expect("the mock's first line");
        let servers = line
            .trim()
            .strip_prefix("bootstrap_servers=")
            .unwrap_or_else(|| panic!("not the mock's address line: {line:?}"))
            .to_owned();
        MockKafka {
            child,
            servers,
            commands,
            answers,
        }
    }

    /// Sends one fault command (`down 2`, `up 2`, `errors Produce request_timed_out 5`,
    /// `coordinator ID 1`; see `tributary mock-kafka`) and checks that it was done.
    pub fn fault(&mut self, command: &str) {
        writeln!(self.commands, "{command}").expect("send a command to the mock");
        self.commands.flush().expect("flush the command");
        let mut answer = String::new();
        self.answers
            .read_line(&mut answer)
            .expect("the mock's answer");
        assert_eq!(answer.trim(), "ok", "{command}");
    }
}

impl Drop for MockKafka {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
