//! Per-connection parser limits.

/// Bounds a parser enforces on what a peer may send.
///
/// Both bounds mirror the nats-server options of the same names and defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Longest accepted control-line argument, in bytes (nats-server `max_control_line`).
    ///
    /// Like nats-server, the length counted is that of the arguments: the bytes after the
    /// verb and its separating blanks, without the line ending. `PING`/`PONG`/`+OK` lines
    /// carry no arguments and are not limited (their trailing bytes are discarded as they
    /// arrive, never buffered).
    pub max_control_line: usize,
    /// Largest accepted message size in bytes (nats-server `max_payload`); for `HPUB`/`HMSG`
    /// it bounds the total size, headers included.
    pub max_payload: usize,
}

impl Limits {
    /// nats-server's default `max_control_line`: 4 KiB.
    pub const DEFAULT_MAX_CONTROL_LINE: usize = 4096;
    /// nats-server's default `max_payload`: 1 MiB.
    pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_control_line: Self::DEFAULT_MAX_CONTROL_LINE,
            max_payload: Self::DEFAULT_MAX_PAYLOAD,
        }
    }
}
