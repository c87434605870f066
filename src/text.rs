//! Text from outside (a server's `msg`, a URL, a file name) made safe to put
//! in a message or a log line.

/// Server-supplied text made safe to show: control characters replaced, cut
/// at a character boundary to at most `max` bytes.
pub fn clean(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    for c in s.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_go_and_the_cut_keeps_characters_whole() {
        assert_eq!(clean("ab中", 4), "ab");
        assert_eq!(clean("ab中", 5), "ab中");
        assert_eq!(clean("a\nb\u{1b}[0m", 10), "a b [0m");
    }
}
