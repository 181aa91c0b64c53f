//! Terminal handling for `natter top`: raw mode for single-key input and the alternate
//! screen, both undone when the guard drops (normal exit, error, or Ctrl-C); the window
//! size; and fitting a frame into that size so nothing scrolls or wraps.

use std::io::{IsTerminal, Write};

use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};

/// A terminal window's size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Size {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
}

/// The size of the window stdout is shown in, or `None` when stdout is not a terminal
/// (a pipe or a file: then nothing is cut).
pub(crate) fn size() -> Option<Size> {
    let out = std::io::stdout();
    if !out.is_terminal() {
        return None;
    }
    let ws = rustix::termios::tcgetwinsize(&out).ok()?;
    // A terminal that reports no size (some serial lines) is treated as unknown.
    (ws.ws_row > 0 && ws.ws_col > 0).then(|| Size {
        rows: usize::from(ws.ws_row),
        cols: usize::from(ws.ws_col),
    })
}

/// Columns `c` takes on a terminal: 2 for the common East Asian wide and emoji blocks,
/// 1 otherwise (combining marks counted as 1 only make a line end a little early).
fn char_width(c: char) -> usize {
    match u32::from(c) {
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

/// `line` with control characters (which could move the cursor or inject escape
/// sequences: connection names come from clients) shown as `?`, cut to `width` columns.
fn clean(line: &str, width: Option<usize>) -> String {
    let mut out = String::with_capacity(line.len());
    let mut used = 0;
    for c in line.chars() {
        let c = if c.is_control() { '?' } else { c };
        let w = char_width(c);
        if width.is_some_and(|max| used + w > max) {
            break;
        }
        used += w;
        out.push(c);
    }
    out
}

/// Lays out a screen: the `head` lines, then as many `rows` as fit, then the `status` line
/// (a prompt or a message) on the bottom row.
///
/// With a `size`, the result has exactly `size.rows` lines, each at most `size.cols`
/// columns wide; when rows do not fit, the last line before the status says how many are
/// hidden. Without a size (not a terminal), everything is kept and nothing is cut.
pub(crate) fn fit(
    head: &[String],
    rows: &[String],
    status: Option<&str>,
    size: Option<Size>,
) -> Vec<String> {
    let Some(size) = size else {
        return head
            .iter()
            .chain(rows)
            .map(String::as_str)
            .chain(status)
            .map(|l| clean(l, None))
            .collect();
    };
    let width = Some(size.cols);
    // The bottom row is kept for the status line, so a prompt never moves.
    let body = size.rows.saturating_sub(1);
    let mut lines: Vec<String> = Vec::with_capacity(size.rows);
    if head.len() + rows.len() <= body {
        lines.extend(head.iter().chain(rows).map(|l| clean(l, width)));
    } else if rows.is_empty() {
        lines.extend(head[..body].iter().map(|l| clean(l, width)));
    } else if body > 0 {
        // One line goes to the note about the hidden rows.
        let head_shown = head.len().min(body - 1);
        let rows_shown = rows.len().min(body - 1 - head_shown);
        let hidden = rows.len() - rows_shown;
        lines.extend(head[..head_shown].iter().map(|l| clean(l, width)));
        lines.extend(rows[..rows_shown].iter().map(|l| clean(l, width)));
        let plural = if hidden == 1 { "" } else { "s" };
        let note = format!("  ... {hidden} more connection{plural} not shown (enlarge the window)");
        lines.push(clean(&note, width));
    }
    lines.resize(body, String::new());
    if size.rows > 0 {
        lines.push(clean(status.unwrap_or(""), width));
    }
    lines
}

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

    /// Replaces the screen's content with `lines` (from [`fit`] for the same `size`). With
    /// `cursor` (a 0-based row and column, for a prompt) the cursor is shown there;
    /// otherwise it stays hidden.
    pub(crate) fn draw(
        &self,
        lines: &[String],
        size: Option<Size>,
        cursor: Option<(usize, usize)>,
    ) {
        let mut buf = String::with_capacity(lines.iter().map(|l| l.len() + 12).sum::<usize>() + 32);
        buf.push_str("\x1b[?25l");
        // Each line is placed by absolute position and its row cleared first: no newline
        // is written, so a full-height frame never scrolls, and a line exactly as wide as
        // the window does not lose its last character to an erase after it.
        for (i, line) in lines.iter().enumerate() {
            buf.push_str(&format!("\x1b[{};1H\x1b[2K", i + 1));
            buf.push_str(line);
        }
        // Whatever an earlier, longer frame left below. (A frame as high as the window has
        // nothing below it; the cursor cannot go there, and erasing from the bottom row
        // would take its status line.)
        if size.is_none_or(|s| lines.len() < s.rows) {
            buf.push_str(&format!("\x1b[{};1H\x1b[J", lines.len() + 1));
        }
        if let Some((row, col)) = cursor {
            buf.push_str(&format!("\x1b[{};{}H\x1b[?25h", row + 1, col + 1));
        }
        let mut out = std::io::stdout().lock();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    fn width(s: &str) -> usize {
        s.chars().map(char_width).sum()
    }

    #[test]
    fn a_frame_that_fits_is_kept_with_the_status_on_the_bottom_row() {
        let out = fit(
            &lines("head", 3),
            &lines("row", 2),
            Some("sort by [cid]: ms"),
            Some(Size { rows: 8, cols: 80 }),
        );
        assert_eq!(
            out,
            [
                "head0",
                "head1",
                "head2",
                "row0",
                "row1",
                "",
                "",
                "sort by [cid]: ms"
            ]
        );
    }

    #[test]
    fn rows_that_do_not_fit_are_counted_and_lines_are_cut_to_the_width() {
        let head = vec!["a header line that is much wider than the window".to_string()];
        let rows = lines("connection row number ", 10);
        let size = Size { rows: 5, cols: 20 };
        let out = fit(&head, &rows, None, Some(size));
        assert_eq!(out.len(), 5, "{out:?}");
        assert!(out.iter().all(|l| width(l) <= 20), "{out:?}");
        assert_eq!(out[0], "a header line that i");
        assert_eq!(out[1], "connection row numbe");
        assert_eq!(out[2], "connection row numbe");
        // head + 2 rows + note + status: 8 of the 10 rows are hidden.
        assert!(out[3].starts_with("  ... 8 more conn"), "{out:?}");
        assert_eq!(out[4], "");

        let wide = fit(&head, &rows, None, Some(Size { rows: 5, cols: 200 }));
        assert!(wide[3].contains("8 more connections not shown"), "{wide:?}");
        // One row too many hides two: the note needs a line of its own.
        let two = fit(&head, &rows[..4], None, Some(Size { rows: 5, cols: 200 }));
        assert!(two[3].contains("2 more connections not shown"), "{two:?}");
        let one = fit(&head, &rows[..1], None, Some(Size { rows: 2, cols: 200 }));
        assert_eq!(
            one[0],
            "  ... 1 more connection not shown (enlarge the window)"
        );
    }

    #[test]
    fn a_window_smaller_than_the_header_still_gets_exactly_its_rows() {
        let head = lines("h", 6);
        let rows = lines("r", 3);
        for rows_avail in 0..10 {
            let out = fit(
                &head,
                &rows,
                Some("status"),
                Some(Size {
                    rows: rows_avail,
                    cols: 3,
                }),
            );
            assert_eq!(out.len(), rows_avail, "{out:?}");
            assert!(out.iter().all(|l| l.chars().count() <= 3), "{out:?}");
            if rows_avail > 0 {
                assert_eq!(out[rows_avail - 1], "sta");
            }
        }
        // Exactly enough room for the head: the note takes the last head line's place.
        let out = fit(&head, &rows, None, Some(Size { rows: 7, cols: 80 }));
        assert_eq!(out[..5], head[..5]);
        assert!(out[5].contains("3 more connections"), "{out:?}");
    }

    #[test]
    fn control_characters_are_defused_and_wide_characters_count_double() {
        let head = vec![
            "name\x1b[2Jx\tend".to_string(),
            "日本語テキスト".to_string(),
        ];
        let out = fit(&head, &[], None, Some(Size { rows: 3, cols: 9 }));
        assert_eq!(out[0], "name?[2Jx");
        assert_eq!(out[1], "日本語テ");
        // Not a terminal: nothing is cut, but escape sequences are still defused.
        let out = fit(&head, &lines("r", 2), Some("s"), None);
        assert_eq!(out, ["name?[2Jx?end", "日本語テキスト", "r0", "r1", "s"]);
    }
}
