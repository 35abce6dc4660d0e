//! Human-readable output: aligned tables, times, and the spinner shown while waiting. `--json`
//! output is the server's JSON, pretty-printed with its key order kept.

use std::fmt::Write as _;
use std::io;

/// What a table shows for an absent value.
pub const NONE: &str = "—";

/// A plain table: an upper-case header row, columns left-aligned and separated by two spaces,
/// no trailing whitespace. Widths count characters, so `—` is one column wide.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        assert_eq!(row.len(), self.headers.len(), "row width");
        self.rows.push(row);
    }

    pub fn render(&self) -> String {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        let header = self
            .headers
            .iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let _ = write!(line, "{cell:<w$}");
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// An RFC 3339 UTC time from the server as `YYYY-MM-DD HH:MM` (UTC); anything else is shown
/// as it came, and `None` as [`NONE`].
pub fn time(value: Option<&str>) -> String {
    let Some(value) = value else {
        return NONE.to_owned();
    };
    let b = value.as_bytes();
    let shaped = b.len() >= 17
        && value.ends_with('Z')
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[..16]
            .iter()
            .enumerate()
            .all(|(i, c)| matches!(i, 4 | 7 | 10 | 13) || c.is_ascii_digit());
    if shaped {
        format!("{} {}", &value[..10], &value[11..16])
    } else {
        value.to_owned()
    }
}

/// Replaces control characters so that text from the server cannot drive the terminal.
pub fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// The server's JSON, pretty-printed, with a final newline.
pub fn json(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialise");
    text.push('\n');
    text
}

/// A one-line spinner on stderr while waiting, drawn only on a terminal; elsewhere the message
/// is written once, as a plain line, so logs stay readable.
pub struct Spinner {
    message: String,
    terminal: bool,
    frame: usize,
    drawn: bool,
}

impl Spinner {
    const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    /// Carriage return, then erase the line (ANSI EL2).
    const CLEAR: &'static str = "\r\x1b[2K";

    pub fn new(message: impl Into<String>, terminal: bool) -> Spinner {
        Spinner {
            message: message.into(),
            terminal,
            frame: 0,
            drawn: false,
        }
    }

    /// Draws the next frame (or, off a terminal, the message the first time).
    pub fn tick(&mut self, err: &mut dyn io::Write) {
        if self.terminal {
            let c = Self::FRAMES[self.frame % Self::FRAMES.len()];
            let _ = write!(err, "{}{c} {}", Self::CLEAR, self.message);
            let _ = err.flush();
            self.frame += 1;
            self.drawn = true;
        } else if self.frame == 0 {
            let _ = writeln!(err, "{}", self.message);
            self.frame = 1;
        }
    }

    /// Prints a line (e.g. a warning) without mixing it into the spinner's line.
    pub fn println(&mut self, err: &mut dyn io::Write, line: &str) {
        self.clear(err);
        let _ = writeln!(err, "{line}");
    }

    /// Erases the spinner's line, if one was drawn.
    pub fn clear(&mut self, err: &mut dyn io::Write) {
        if self.drawn {
            let _ = write!(err, "{}", Self::CLEAR);
            let _ = err.flush();
            self.drawn = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spinner_animates_only_on_a_terminal() {
        let mut err = Vec::new();
        let mut s = Spinner::new("Waiting", false);
        for _ in 0..3 {
            s.tick(&mut err);
        }
        s.println(&mut err, "warning: x");
        s.clear(&mut err);
        assert_eq!(String::from_utf8(err).unwrap(), "Waiting\nwarning: x\n");

        let mut err = Vec::new();
        let mut s = Spinner::new("Waiting", true);
        s.tick(&mut err);
        s.tick(&mut err);
        s.clear(&mut err);
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "\r\x1b[2K⠋ Waiting\r\x1b[2K⠙ Waiting\r\x1b[2K"
        );
    }

    #[test]
    fn tables_align_columns_and_trim_line_ends() {
        let mut t = Table::new(&["ID", "NAME", "EXPIRES"]);
        t.push(vec!["st_1".into(), "CI".into(), NONE.into()]);
        t.push(vec![
            "st_22".into(),
            "deploy bot".into(),
            "2026-01-01 00:00".into(),
        ]);
        assert_eq!(
            t.render(),
            "ID     NAME        EXPIRES\n\
             st_1   CI          —\n\
             st_22  deploy bot  2026-01-01 00:00\n"
        );
    }

    #[test]
    fn widths_count_characters_not_bytes() {
        let mut t = Table::new(&["A", "B"]);
        t.push(vec!["——".into(), "x".into()]);
        t.push(vec!["ab".into(), "y".into()]);
        assert_eq!(t.render(), "A   B\n——  x\nab  y\n");
    }

    #[test]
    fn an_empty_table_is_its_header() {
        assert_eq!(Table::new(&["ID", "NAME"]).render(), "ID  NAME\n");
    }

    #[test]
    fn times_are_shown_to_the_minute() {
        assert_eq!(time(Some("2026-11-24T10:00:59Z")), "2026-11-24 10:00");
        assert_eq!(time(Some("2026-11-24T10:00:59.123Z")), "2026-11-24 10:00");
        assert_eq!(time(Some("yesterday")), "yesterday");
        assert_eq!(
            time(Some("2026-11-24T10:00:59+01:00")),
            "2026-11-24T10:00:59+01:00"
        );
        assert_eq!(time(None), "—");
    }

    #[test]
    fn sanitize_removes_terminal_escapes() {
        assert_eq!(sanitize("bad\x1b[31m\nname"), "bad\u{FFFD}[31m\u{FFFD}name");
    }

    #[test]
    fn json_keeps_the_server_key_order() {
        let v: serde_json::Value = serde_json::from_str(r#"{"z":1,"a":null}"#).unwrap();
        assert_eq!(json(&v), "{\n  \"z\": 1,\n  \"a\": null\n}\n");
    }
}
