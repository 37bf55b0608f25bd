//! Output: human-readable lines by default, one JSON document with `--json`.

use serde::Serialize;

/// Print `value` as pretty JSON when `json` is set, otherwise run `human` to print lines.
pub fn emit<T: Serialize>(json: bool, value: &T, human: impl FnOnce(&T)) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        human(value);
    }
    Ok(())
}

/// A progress bar for long work, hidden when output is JSON or not a terminal.
pub fn progress(total: u64, json: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if json || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    indicatif::ProgressBar::new(total)
}

/// Show `text` as a QR code in the terminal.
pub fn print_qr(text: &str) {
    if let Ok(code) = qrcode::QrCode::new(text.as_bytes()) {
        println!(
            "{}",
            code.render::<qrcode::render::unicode::Dense1x2>()
                .quiet_zone(true)
                .build()
        );
    }
}

/// `text` as it may go to a terminal: control characters (which could move the cursor and
/// rewrite what was shown, making one sender's words read as another's) written escaped.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
