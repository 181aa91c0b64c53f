//! Terminal handling for `natter top`: raw mode for single-key input and the alternate
//! screen, both undone when the guard drops (normal exit, error, or Ctrl-C).

use std::io::Write;

use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};

/// While alive, the terminal is in raw mode on the alternate screen with the cursor hidden.
pub(crate) struct Screen {
    saved: Option<Termios>,
}

impl Screen {
    /// Enters the alternate screen; switches stdin to raw mode when it is a terminal.
    pub(crate) fn enter(raw_input: bool) -> Screen {
        let saved = if raw_input {
            let stdin = std::io::stdin();
            tcgetattr(&stdin).ok().and_then(|saved| {
                let mut raw = saved.clone();
                cfmakeraw(&mut raw);
                tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
                Some(saved)
            })
        } else {
            None
        };
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(b"\x1b[?1049h\x1b[?25l");
        let _ = out.flush();
        Screen { saved }
    }

    /// Replaces the screen's content with `frame`.
    pub(crate) fn draw(&self, frame: &str) {
        let mut out = std::io::stdout().lock();
        let mut buf = String::with_capacity(frame.len() + frame.lines().count() + 8);
        buf.push_str("\x1b[H\x1b[2J");
        for line in frame.lines() {
            buf.push_str(line);
            // Raw mode turns off output post-processing, so a bare LF would not return
            // the cursor to the first column.
            buf.push_str("\r\n");
        }
        let _ = out.write_all(buf.as_bytes());
        let _ = out.flush();
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, saved);
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(b"\x1b[?25h\x1b[?1049l");
        let _ = out.flush();
    }
}
