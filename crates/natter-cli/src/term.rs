//! Terminal handling for `natter top`: raw mode for single-key input and the alternate
//! screen, both undone when the guard drops (normal exit, error, or Ctrl-C); the window
//! size; and fitting a frame into that size so nothing scrolls or wraps.

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, Once};

use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

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
    let ws = rustix::termios::tcgetwinsize(&out).ok();
    let env = |name| std::env::var(name).ok();
    Some(window_size(
        ws.map_or((0, 0), |ws| (ws.ws_row, ws.ws_col)),
        env("LINES").as_deref(),
        env("COLUMNS").as_deref(),
    ))
}

/// The size of a terminal that reported `reported` (rows, columns). A terminal that
/// reports no size (some serial lines and consoles say 0×0) is still a terminal: then
/// `$LINES` and `$COLUMNS` are used when they are positive numbers, else 24×80.
fn window_size(reported: (u16, u16), lines: Option<&str>, columns: Option<&str>) -> Size {
    if reported.0 > 0 && reported.1 > 0 {
        return Size {
            rows: usize::from(reported.0),
            cols: usize::from(reported.1),
        };
    }
    let valid = |v: Option<&str>, default: usize| {
        v.and_then(|v| v.trim().parse::<u16>().ok())
            .filter(|n| *n > 0)
            .map_or(default, usize::from)
    };
    Size {
        rows: valid(lines, 24),
        cols: valid(columns, 80),
    }
}

/// `c` as it is shown: control characters (which could move the cursor or inject escape
/// sequences: connection names come from clients) become `?`.
fn shown(c: char) -> char {
    if c.is_control() {
        '?'
    } else {
        c
    }
}

/// Columns `c` takes on a terminal once [`shown`]: 2 for wide characters, 0 for combining
/// marks, 1 otherwise.
fn char_width(c: char) -> usize {
    UnicodeWidthChar::width(shown(c)).unwrap_or(1)
}

/// Columns `s` takes on a terminal once its control characters are [`shown`] as `?`.
pub(crate) fn width(s: &str) -> usize {
    if s.chars().any(char::is_control) {
        s.chars().map(char_width).sum()
    } else {
        UnicodeWidthStr::width(s)
    }
}

/// `text` cut to at most `cols` columns and padded with spaces to exactly `cols`: one
/// column of a table, so what follows it starts at the same place on every row. A wide
/// character that would straddle the edge is left out (and its column padded).
pub(crate) fn cell(text: &str, cols: usize) -> String {
    let mut out = clean(text, Some(cols));
    let used = width(&out);
    out.extend(std::iter::repeat_n(' ', cols.saturating_sub(used)));
    out
}

/// `line` with control characters [`shown`] as `?`, cut to `width` columns.
fn clean(line: &str, width: Option<usize>) -> String {
    let mut out = String::with_capacity(line.len());
    let mut used = 0;
    for c in line.chars() {
        let c = shown(c);
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

/// What must be undone to give the terminal back: the termios stdin had before raw mode,
/// and whether the alternate screen is in use. `None` when nothing is to be undone. Kept
/// here rather than in [`Screen`] so the panic hook can reach it.
type Restore = Option<(Option<Termios>, bool)>;

static ACTIVE: Mutex<Restore> = Mutex::new(None);

/// Gives the terminal back (once: later calls find nothing to do).
fn restore() {
    let taken = ACTIVE.lock().map_or(None, |mut a| a.take());
    let Some((saved, alternate)) = taken else {
        return;
    };
    if let Some(saved) = &saved {
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, saved);
    }
    if alternate {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(b"\x1b[?25h\x1b[?1049l");
        let _ = out.flush();
    }
}

/// While alive, stdin is in raw mode (if asked and it is a terminal) and, if asked, stdout
/// shows the alternate screen with the cursor hidden. Dropping it, or a panic while it is
/// alive (before the panic message is printed), gives the terminal back.
pub(crate) struct Screen {
    alternate: bool,
}

impl Screen {
    /// Switches stdin to raw mode when `raw_input` and it is a terminal; enters the
    /// alternate screen when `alternate`.
    pub(crate) fn enter(raw_input: bool, alternate: bool) -> Screen {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let default = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                default(info);
            }));
        });
        let stdin = std::io::stdin();
        let saved = if raw_input && stdin.is_terminal() {
            tcgetattr(&stdin).ok().and_then(|saved| {
                let mut raw = saved.clone();
                cfmakeraw(&mut raw);
                // Raw input only: output keeps its processing (a newline still returns the
                // carriage), so lines written to stderr while stdout goes to a pipe start at
                // the left edge. Frames place every line by cursor position and hold no
                // newline, so they do not depend on it.
                raw.output_flags = saved.output_flags;
                tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
                Some(saved)
            })
        } else {
            None
        };
        if let Ok(mut active) = ACTIVE.lock() {
            *active = Some((saved, alternate));
        }
        if alternate {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(b"\x1b[?1049h\x1b[?25l");
            let _ = out.flush();
        }
        Screen { alternate }
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
        if !self.alternate {
            return;
        }
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
        restore();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
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

    #[test]
    fn widths_come_from_unicode_and_cells_line_up() {
        assert_eq!(width("abc"), 3);
        assert_eq!(width("日本"), 4);
        assert_eq!(width("e\u{301}"), 1, "a combining mark takes no column");
        assert_eq!(width("a\x1bb"), 3, "a control character shows as ?");
        assert_eq!(cell("日本語", 5), "日本 ");
        assert_eq!(cell("ab", 4), "ab  ");
        assert_eq!(cell("a\x1b[2J", 4), "a?[2");
        assert_eq!(cell("", 0), "");
        for text in [
            "日本語テキストです",
            "e\u{301}e\u{301}xyz",
            "😀😀😀x",
            "a\tb",
        ] {
            for cols in 0..12 {
                assert_eq!(width(&cell(text, cols)), cols, "{text:?} in {cols}");
            }
        }
    }

    #[test]
    fn a_terminal_without_a_size_falls_back_to_lines_and_columns_or_24_by_80() {
        let size = |rows, cols| Size { rows, cols };
        assert_eq!(
            window_size((40, 120), Some("10"), Some("20")),
            size(40, 120)
        );
        assert_eq!(window_size((0, 0), Some("30"), Some("100")), size(30, 100));
        assert_eq!(window_size((0, 0), None, None), size(24, 80));
        assert_eq!(window_size((0, 5), Some("0"), Some("x")), size(24, 80));
        assert_eq!(window_size((0, 0), Some("-3"), Some(" 90 ")), size(24, 90));
        assert_eq!(
            window_size((0, 0), Some("99999999"), Some("")),
            size(24, 80)
        );
    }
}
