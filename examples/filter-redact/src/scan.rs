//! Finding e-mail addresses and card numbers in text without a regex engine (which would
//! triple the `.wasm` size): two byte scanners over the string.

use std::ops::Range;

/// What an e-mail address becomes.
pub const EMAIL: &str = "[REDACTED:email]";
/// What a card number becomes.
pub const CARD: &str = "[REDACTED:card]";

/// `text` with e-mail addresses and card numbers replaced, or `None` when it has neither
/// (the common case, which allocates nothing).
pub fn redact_text(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    // Quick exits: no '@' means no e-mail, fewer than 13 digits means no card.
    let has_at = bytes.contains(&b'@');
    let has_digits = bytes.iter().filter(|b| b.is_ascii_digit()).count() >= 13;
    if !has_at && !has_digits {
        return None;
    }
    let mut spans: Vec<(Range<usize>, &str)> = Vec::new();
    if has_at {
        spans.extend(emails(bytes).map(|r| (r, EMAIL)));
    }
    if has_digits {
        for card in cards(bytes) {
            if !spans
                .iter()
                .any(|(r, _)| r.start < card.end && card.start < r.end)
            {
                spans.push((card, CARD));
            }
        }
    }
    if spans.is_empty() {
        return None;
    }
    spans.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, replacement) in spans {
        // Spans start and end on ASCII bytes, so they are char boundaries.
        out.push_str(text.get(at..range.start).unwrap_or_default());
        out.push_str(replacement);
        at = range.end;
    }
    out.push_str(text.get(at..).unwrap_or_default());
    Some(out)
}

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// `local@domain.tld` spans: a non-empty local part, a domain with a dot, a TLD of two or more
/// letters.
fn emails(bytes: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut resume = 0;
    bytes.iter().enumerate().filter_map(move |(at, &b)| {
        if b != b'@' || at < resume {
            return None;
        }
        let start = bytes[..at]
            .iter()
            .rposition(|&c| !is_local(c))
            .map_or(0, |p| p + 1);
        let mut end = bytes[at + 1..]
            .iter()
            .position(|&c| !is_domain(c))
            .map_or(bytes.len(), |p| at + 1 + p);
        // A sentence's full stop or a trailing dash is not part of the domain.
        while end > at + 1 && matches!(bytes[end - 1], b'.' | b'-') {
            end -= 1;
        }
        let domain = &bytes[at + 1..end];
        let tld = domain.rsplit(|&c| c == b'.').next().unwrap_or_default();
        let valid = start < at
            && domain.contains(&b'.')
            && !domain.starts_with(b".")
            && tld.len() >= 2
            && tld.iter().all(u8::is_ascii_alphabetic);
        if !valid {
            return None;
        }
        resume = end;
        Some(start..end)
    })
}

/// Card number spans: 13 to 19 digits, single spaces or dashes allowed between digits, not
/// touching other letters or digits, passing the Luhn check.
fn cards(bytes: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < bytes.len() {
            let start = at;
            if !bytes[start].is_ascii_digit()
                || (start > 0 && bytes[start - 1].is_ascii_alphanumeric())
            {
                at += 1;
                continue;
            }
            let mut digits = [0u8; 19];
            let mut count = 0usize;
            let mut end = start;
            let mut i = start;
            while i < bytes.len() {
                let b = bytes[i];
                if b.is_ascii_digit() {
                    if count == digits.len() {
                        count += 1; // too long: not a card
                        break;
                    }
                    digits[count] = b - b'0';
                    count += 1;
                    i += 1;
                    end = i;
                } else if matches!(b, b' ' | b'-')
                    && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
                {
                    i += 1;
                } else {
                    break;
                }
            }
            at = end.max(start + 1);
            let touches_word = bytes.get(end).is_some_and(u8::is_ascii_alphanumeric);
            if (13..=19).contains(&count) && !touches_word && luhn(&digits[..count]) {
                return Some(start..end);
            }
        }
        None
    })
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_replaced_and_the_sentence_kept() {
        assert_eq!(
            redact_text("mail ana.b+x@mail.example.org. or bob@ex.io").as_deref(),
            Some("mail [REDACTED:email]. or [REDACTED:email]")
        );
    }

    #[test]
    fn things_that_look_like_emails_are_not() {
        for text in ["user@localhost", "@handle", "a@b.c", "x@.com", "a@b.c0m"] {
            assert_eq!(redact_text(text), None, "{text}");
        }
    }

    #[test]
    fn luhn_valid_card_numbers_are_replaced_in_any_grouping() {
        assert_eq!(
            redact_text("paid with 4111 1111 1111 1111 ok").as_deref(),
            Some("paid with [REDACTED:card] ok")
        );
        assert_eq!(
            redact_text("card=5500-0000-0000-0004").as_deref(),
            Some("card=[REDACTED:card]")
        );
        assert_eq!(redact_text("4111111111111111").as_deref(), Some(CARD));
    }

    #[test]
    fn other_long_numbers_are_kept() {
        for text in [
            "order 4111111111111112",         // fails Luhn
            "id 41111111111111110000000",     // too long
            "trace a4111111111111111",        // part of a word
            "ts 1700000000 1700000001 ms 12", // separate numbers
        ] {
            assert_eq!(redact_text(text), None, "{text}");
        }
    }
}
