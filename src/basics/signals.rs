//! The signals a run stops on: SIGINT (Ctrl-C) and SIGTERM (what `execFile`'s `kill()`,
//! an `AbortSignal` and a container stop send). Listening starts when `StopSignals` is
//! made, not when it is first awaited: a signal that comes in between (a prompt already on
//! the terminal, the first step already started) is kept, never lost.

use tokio::signal::unix::{signal, Signal, SignalKind};

pub struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    /// Starts listening; inside a Tokio runtime.
    pub fn listen() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// The name of the first of them that came since `listen`.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}
