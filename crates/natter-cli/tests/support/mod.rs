//! Test helpers for running `natter` on a pseudo-terminal: a reader of the pty's master
//! side that never blocks the test for longer than a limit, and a small terminal emulator
//! that shows what a user would see and notices any line that would wrap or scroll.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The screen of a minimal VT100-style terminal: enough of the escape sequences
/// `natter top` writes (cursor position, erase line/screen, private modes) to rebuild the
/// picture, with wrap and scroll recorded instead of performed.
pub struct Vt {
    rows: usize,
    cols: usize,
    grid: Vec<Vec<char>>,
    row: usize,
    col: usize,
    state: Parse,
    carry: Vec<u8>,
    /// A character was written past the last column, or a newline on the bottom row:
    /// a real terminal would have wrapped or scrolled.
    pub overflowed: bool,
    /// Draws started (each begins by hiding the cursor).
    pub draws: usize,
    /// The alternate screen is in use.
    pub alternate: bool,
    /// The cursor is visible.
    pub cursor_visible: bool,
}

enum Parse {
    Ground,
    Escape,
    Csi(String),
}

impl Vt {
    /// A blank screen of `rows` by `cols`.
    pub fn new(rows: usize, cols: usize) -> Vt {
        Vt {
            rows,
            cols,
            grid: vec![vec![' '; cols]; rows],
            row: 0,
            col: 0,
            state: Parse::Ground,
            carry: Vec::new(),
            overflowed: false,
            draws: 0,
            alternate: false,
            cursor_visible: true,
        }
    }

    /// The window changed size: the picture starts blank, as the program must redraw.
    pub fn resize(&mut self, rows: usize, cols: usize) {
        self.rows = rows;
        self.cols = cols;
        self.grid = vec![vec![' '; cols]; rows];
        self.row = self.row.min(rows - 1);
        self.col = self.col.min(cols - 1);
    }

    /// Row `i` of the screen without trailing blanks.
    pub fn line(&self, i: usize) -> String {
        self.grid[i]
            .iter()
            .collect::<String>()
            .trim_end()
            .to_string()
    }

    /// The bottom row.
    pub fn bottom(&self) -> String {
        self.line(self.rows - 1)
    }

    /// The whole screen, one line per row.
    pub fn text(&self) -> String {
        (0..self.rows)
            .map(|i| self.line(i))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Interprets output bytes (UTF-8 split across reads is kept for the next call).
    pub fn feed(&mut self, bytes: &[u8]) {
        self.carry.extend_from_slice(bytes);
        let carry = std::mem::take(&mut self.carry);
        let mut rest = &carry[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    s.chars().for_each(|c| self.char(c));
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    std::str::from_utf8(good)
                        .unwrap_or_default()
                        .chars()
                        .for_each(|c| self.char(c));
                    match e.error_len() {
                        Some(n) => {
                            self.char('\u{fffd}');
                            rest = &bad[n..];
                        }
                        None => {
                            self.carry = bad.to_vec();
                            break;
                        }
                    }
                }
            }
        }
    }

    fn char(&mut self, c: char) {
        match std::mem::replace(&mut self.state, Parse::Ground) {
            Parse::Ground => match c {
                '\x1b' => self.state = Parse::Escape,
                '\r' => self.col = 0,
                '\n' => {
                    if self.row + 1 >= self.rows {
                        self.overflowed = true;
                    } else {
                        self.row += 1;
                    }
                }
                '\x08' => self.col = self.col.saturating_sub(1),
                c if c.is_control() => {}
                c => {
                    if self.col >= self.cols {
                        self.overflowed = true;
                    } else {
                        self.grid[self.row][self.col] = c;
                        self.col += 1;
                    }
                }
            },
            Parse::Escape => {
                if c == '[' {
                    self.state = Parse::Csi(String::new());
                }
            }
            Parse::Csi(mut params) => match c {
                '0'..='?' => {
                    params.push(c);
                    self.state = Parse::Csi(params);
                }
                ' '..='/' => self.state = Parse::Csi(params),
                c => self.csi(&params, c),
            },
        }
    }

    fn csi(&mut self, params: &str, op: char) {
        let nums: Vec<usize> = params
            .trim_start_matches('?')
            .split(';')
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        let arg = |i: usize| nums.get(i).copied().unwrap_or(0);
        match op {
            'H' | 'f' => {
                self.row = arg(0).max(1).min(self.rows) - 1;
                self.col = arg(1).max(1).min(self.cols) - 1;
            }
            'K' => {
                let (from, to) = match arg(0) {
                    0 => (self.col, self.cols),
                    1 => (0, self.col + 1),
                    _ => (0, self.cols),
                };
                let width = self.cols;
                self.grid[self.row][from.min(width)..to.min(width)].fill(' ');
            }
            'J' => {
                let (from, to) = match arg(0) {
                    0 => (self.row * self.cols + self.col, self.rows * self.cols),
                    1 => (0, self.row * self.cols + self.col + 1),
                    _ => (0, self.rows * self.cols),
                };
                for i in from..to.min(self.rows * self.cols) {
                    self.grid[i / self.cols][i % self.cols] = ' ';
                }
            }
            'h' | 'l' if params.starts_with('?') => {
                let on = op == 'h';
                for mode in &nums {
                    match mode {
                        25 => {
                            self.cursor_visible = on;
                            if !on {
                                self.draws += 1;
                            }
                        }
                        1049 => {
                            self.alternate = on;
                            self.grid = vec![vec![' '; self.cols]; self.rows];
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// The master side of a pty with a program on the slave side: what the program writes
/// is read on a thread and handed over a channel, so every wait has a time limit.
pub struct Term {
    chunks: Receiver<Vec<u8>>,
    master: File,
    /// The picture the program drew.
    pub vt: Vt,
    /// Everything read so far.
    pub raw: Vec<u8>,
    closed: bool,
}

impl Term {
    /// Starts reading `master`; the window is `rows` by `cols`.
    pub fn new(master: OwnedFd, rows: usize, cols: usize) -> Term {
        let master = File::from(master);
        let mut reader = master.try_clone().expect("clone the pty master");
        let (tx, chunks) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            // Reading fails (EIO) once no process has the slave side open.
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Term {
            chunks,
            master,
            vt: Vt::new(rows, cols),
            raw: Vec::new(),
            closed: false,
        }
    }

    /// Types `keys`.
    pub fn send(&mut self, keys: &[u8]) {
        self.master.write_all(keys).expect("write to the pty");
        self.master.flush().expect("flush the pty");
    }

    /// Whether the terminal is back in cooked mode: line editing (ICANON) and echo on.
    /// A pty's settings are shared by both sides, so the master can read them.
    pub fn cooked(&self) -> bool {
        use nix::sys::termios::{tcgetattr, LocalFlags};
        let t = tcgetattr(&self.master).expect("tcgetattr on the pty master");
        t.local_flags
            .contains(LocalFlags::ICANON | LocalFlags::ECHO)
    }

    /// Changes the window size as a terminal emulator does (TIOCSWINSZ on the master).
    pub fn resize(&mut self, rows: u16, cols: u16) {
        let size = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&self.master, size).expect("set the window size");
        self.vt.resize(usize::from(rows), usize::from(cols));
    }

    fn take(&mut self, chunk: Vec<u8>) {
        self.vt.feed(&chunk);
        self.raw.extend_from_slice(&chunk);
    }

    /// Reads output until `done` holds for the screen; panics with the screen if that
    /// does not happen within `limit` or the program closes the terminal first.
    pub fn wait_for(&mut self, what: &str, limit: Duration, done: impl Fn(&Vt) -> bool) {
        let deadline = Instant::now() + limit;
        while !done(&self.vt) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.take(chunk),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("timed out waiting for {what}; screen:\n{}", self.vt.text())
                }
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "the terminal closed while waiting for {what}; screen:\n{}",
                    self.vt.text()
                ),
            }
        }
    }

    /// Reads the rest of the output until the program has closed the terminal.
    pub fn read_to_close(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.take(chunk),
                Err(RecvTimeoutError::Disconnected) => self.closed = true,
                Err(RecvTimeoutError::Timeout) => panic!("the terminal was never closed"),
            }
        }
    }
}
