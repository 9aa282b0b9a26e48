//! Direct identifiers that must never enter kmapa: names, PESEL numbers, phone
//! numbers, e-mail addresses, document numbers. Found by column name and by the shape
//! of values; a file that carries any is refused as a whole.

use kmapa_model::text::fold;

/// Words that, as a word of a column header, mark a direct identifier; a header word
/// matches when it starts with one of these stems (`telefon` matches `telefonu`).
const IDENTIFIER_STEMS: &[(&str, &str)] = &[
    ("pesel", "a PESEL number"),
    ("imie", "a first name"),
    ("imion", "first names"),
    ("nazwisk", "a surname"),
    ("firstname", "a first name"),
    ("surname", "a surname"),
    ("lastname", "a surname"),
    ("telefon", "a phone number"),
    ("phone", "a phone number"),
    ("mobile", "a phone number"),
    ("komork", "a phone number"),
    ("email", "an e-mail address"),
    ("dowod", "an identity card number"),
    ("paszport", "a passport number"),
    ("passport", "a passport number"),
    ("dokument", "a document number"),
    ("document", "a document number"),
];

/// Short words that mark an identifier only as a whole word.
const IDENTIFIER_WORDS: &[(&str, &str)] = &[
    ("name", "a name"),
    ("tel", "a phone number"),
    ("mail", "an e-mail address"),
    ("nip", "a tax number"),
];

/// If the header names a direct identifier, what it is.
pub fn identifier_column(header: &str) -> Option<&'static str> {
    let f = fold(header).replace(['.', '/', '(', ')'], " ");
    let words: Vec<&str> = f.split(' ').filter(|w| !w.is_empty()).collect();
    let joined = words.concat();
    for w in words
        .iter()
        .copied()
        .chain(std::iter::once(joined.as_str()))
    {
        if let Some((_, what)) = IDENTIFIER_STEMS
            .iter()
            .find(|(stem, _)| w.starts_with(stem))
        {
            return Some(what);
        }
        if let Some((_, what)) = IDENTIFIER_WORDS.iter().find(|(word, _)| w == *word) {
            return Some(what);
        }
    }
    None
}

/// If a value looks like a direct identifier, what it looks like.
/// `free_text` widens the check to phone numbers (for columns kmapa does not know).
pub fn identifier_value(value: &str, free_text: bool) -> Option<&'static str> {
    // Known columns are checked for PESEL numbers and e-mail addresses only: a value
    // with neither a run of exactly eleven digits nor an `@` (nearly all of them) is
    // done with at once. (An ingest checks whole rows first: `row_may_hold_pesel_or_email`.)
    if !free_text && !may_hold_pesel(value) && !value.contains('@') {
        return None;
    }
    identifier_value_checked(value, free_text)
}

/// `identifier_value` without its quick return.
fn identifier_value_checked(value: &str, free_text: bool) -> Option<&'static str> {
    let v = kmapa_model::text::trim(value);
    if contains_pesel(v) {
        return Some("a valid PESEL number");
    }
    if let Some(at) = v.find('@')
        && at > 0
        && v[at + 1..].contains('.')
        && !v.contains(' ')
    {
        return Some("an e-mail address");
    }
    if free_text && looks_like_a_name(v) {
        return Some("what looks like a person's name");
    }
    if free_text {
        let digits = v.chars().filter(char::is_ascii_digit).count();
        let phone_chars = v.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c));
        if phone_chars
            && (9..=12).contains(&digits)
            && (v.starts_with('+') || v.contains(' ') || v.contains('-') || digits == 9)
        {
            return Some("a phone number");
        }
    }
    None
}

/// Whether `v` holds a valid PESEL as a word of its own: alone, or among other words
/// (`rodzina 65101821363`, `ul. Długa 5 (65101821363)`, `65101821363/2024`), or after
/// a short prefix of up to three letters (`ID65101821363`, `nr65101821363`). Words are
/// runs of letters and digits; a longer digit run (an account number), or digits mixed
/// with letters (a pseudonym like `Hce8738d2f75bd4a`, whose digits would now and then
/// pass the checksum by chance), is not a PESEL.
pub fn contains_pesel(v: &str) -> bool {
    if !may_hold_pesel(v) {
        return false;
    }
    v.split(|c: char| !c.is_alphanumeric()).any(|word| {
        let digits = word.trim_start_matches(|c: char| c.is_alphabetic());
        let prefix = word.len() - digits.len();
        prefix <= 3
            && digits.len() == 11
            && digits.bytes().all(|b| b.is_ascii_digit())
            && crate::pesel::is_valid(digits)
    })
}

/// Whether `v` has a run of exactly eleven ASCII digits, as every PESEL is: most values
/// have none, and are done with in one pass over their bytes.
fn may_hold_pesel(v: &str) -> bool {
    let mut run = 0u32;
    for &b in v.as_bytes() {
        if b.is_ascii_digit() {
            run += 1;
        } else if run == 11 {
            return true;
        } else {
            run = 0;
        }
    }
    run == 11
}

/// Whether any of a row's fields may hold a PESEL number or an e-mail address, from
/// its fields' text joined without separators (`csv::ByteRecord::as_slice`): a digit
/// run inside a field is part of a run at least as long in the joined text, so a row
/// whose joined text has no run of eleven or more digits and no `@` needs no check of
/// its known columns' fields one by one.
pub fn row_may_hold_pesel_or_email(joined: &[u8]) -> bool {
    if memchr::memchr(b'@', joined).is_some() {
        return true;
    }
    // 64 bytes at a time as a bit mask of digits: a run of eleven is eleven set bits in
    // a row, within a chunk or across the boundary with the digits that ended the chunk
    // before.
    let mut carried = 0u32;
    for chunk in joined.chunks(64) {
        let digits = if chunk.len() == 64 {
            digit_mask(chunk)
        } else {
            let mut padded = [0u8; 64]; // not digits
            padded[..chunk.len()].copy_from_slice(chunk);
            digit_mask(&padded)
        };
        let len = chunk.len() as u32;
        let leading = digits.trailing_ones().min(len);
        if carried + leading >= 11 {
            return true;
        }
        let mut inside = digits;
        for _ in 0..10 {
            inside &= inside >> 1;
        }
        if inside != 0 {
            return true;
        }
        carried = if leading == len {
            carried + len
        } else {
            (digits << (64 - len)).leading_ones()
        };
    }
    false
}

/// Bit `i` set where byte `i` of 64 is an ASCII digit: eight bytes at a time in one
/// word (a byte's high bit says whether it is in `0x30..=0x39`; a multiplication
/// gathers the eight high bits), four times fewer steps than a byte at a time.
fn digit_mask(chunk: &[u8]) -> u64 {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let mut mask = 0u64;
    for (j, bytes) in chunk.chunks_exact(8).enumerate() {
        let w = u64::from_le_bytes(bytes.try_into().expect("eight bytes"));
        let low = w & LOW7; // no carry between bytes below: 0x7F + 0x50 < 0x100
        let at_least_0 = low + 0x5050_5050_5050_5050; // high bit: low ≥ 0x30
        let past_9 = low + 0x4646_4646_4646_4646; // high bit: low ≥ 0x3A
        let digit = at_least_0 & !past_9 & !w & HIGH; // and the byte itself < 0x80
        let bits = (digit >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56;
        mask |= bits << (8 * j);
    }
    mask
}

/// Two or three capitalised words ("Jan Kowalski", "Anna Nowak-Wiśniewska"): the shape
/// of a person's name. Checked only in columns kmapa does not know, where a refusal
/// costs a user one dropped column and a miss would leak a name.
fn looks_like_a_name(v: &str) -> bool {
    let words: Vec<&str> = v.split_whitespace().collect();
    (2..=3).contains(&words.len())
        && words.iter().all(|w| {
            w.split('-').all(|part| {
                let mut chars = part.chars();
                chars.next().is_some_and(char::is_uppercase)
                    && part.chars().count() >= 2
                    && chars.all(char::is_lowercase)
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn identifier_headers() {
        for h in [
            "PESEL",
            "pesel_klienta",
            "Imię",
            "NAZWISKO",
            "Nr telefonu",
            "e-mail",
            "E_MAIL",
            "Nr dowodu",
            "first_name",
            "Imię i nazwisko",
        ] {
            assert!(identifier_column(h).is_some(), "{h}");
        }
        for h in [
            "rok",
            "kategoria",
            "dzielnica",
            "person_id",
            "pseudonim",
            "adres",
            "birth_year",
            "nazwa_osiedla",
        ] {
            assert!(identifier_column(h).is_none(), "{h}");
        }
    }

    /// The definition, without the byte pre-check `contains_pesel` starts with.
    fn contains_pesel_by_words(v: &str) -> bool {
        v.split(|c: char| !c.is_alphanumeric()).any(|word| {
            let digits = word.trim_start_matches(|c: char| c.is_alphabetic());
            word.len() - digits.len() <= 3
                && digits.len() == 11
                && digits.bytes().all(|b| b.is_ascii_digit())
                && crate::pesel::is_valid(digits)
        })
    }

    #[test]
    fn the_byte_pre_check_never_hides_a_pesel() {
        // Every joining of these pieces, two and three at a time: valid and invalid
        // PESELs, digit runs that touch them, letter prefixes, separators, non-ASCII
        // digits and letters.
        let pieces = [
            "44051401359",
            "44051401358",
            "02270803628",
            "4405140135",
            "9",
            "0",
            "ID",
            "nr",
            "abcd",
            "x",
            " ",
            "/",
            "(",
            ")",
            "-",
            "٣",
            "ż",
            "é",
            "",
            "rodzina ",
            "@",
            "a@b.pl",
            "\u{a0}",
        ];
        let mut checked = 0;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let v = format!("{a}{b}{c}");
                    assert_eq!(contains_pesel(&v), contains_pesel_by_words(&v), "{v:?}");
                    assert_eq!(
                        identifier_value(&v, false),
                        identifier_value_checked(&v, false),
                        "{v:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, pieces.len().pow(3));
        assert!(contains_pesel("ID44051401359") && !contains_pesel("ID440514013590"));
        // A row whose joined fields pass the row check has no field that fails the
        // field check: rows of three fields from the same pieces.
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let joined = format!("{a}{b}{c}");
                    if !row_may_hold_pesel_or_email(joined.as_bytes()) {
                        for field in [a, b, c] {
                            assert_eq!(
                                identifier_value(field, false),
                                None,
                                "{field:?} in {joined:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// The longest run of ASCII digits in `b`, one byte at a time.
    fn longest_digit_run(b: &[u8]) -> usize {
        b.split(|c| !c.is_ascii_digit())
            .map(<[u8]>::len)
            .max()
            .unwrap_or(0)
    }

    proptest::proptest! {
        #[test]
        fn the_row_check_finds_every_long_digit_run(
            row in proptest::collection::vec(
                proptest::prop_oneof![
                    8 => b'0'..=b'9',
                    1 => Just(b','),
                    1 => Just(b'a'),
                    1 => Just(0xC5u8),
                    // Next to the digits, and a digit with the high bit set.
                    1 => Just(b'/'),
                    1 => Just(b':'),
                    1 => Just(0xB5u8),
                ],
                0..300,
            )
        ) {
            proptest::prop_assert_eq!(
                row_may_hold_pesel_or_email(&row),
                longest_digit_run(&row) >= 11
            );
        }
    }

    #[test]
    fn the_digit_mask_marks_exactly_the_ascii_digits() {
        // Every byte value at every place, among neighbours of every value.
        for b in 0..=255u8 {
            for place in 0..64 {
                let mut chunk: Vec<u8> = (0..64).map(|i| (i * 37 + b as usize) as u8).collect();
                chunk[place] = b;
                let want = chunk
                    .iter()
                    .enumerate()
                    .fold(0u64, |m, (i, c)| m | (u64::from(c.is_ascii_digit()) << i));
                assert_eq!(digit_mask(&chunk), want, "byte {b:#x} at {place}");
            }
        }
    }

    #[test]
    fn the_row_check_across_chunk_boundaries() {
        // Runs of 10, 11 and 12 digits ending or starting at every place around the
        // boundaries of 64-byte chunks, and an `@` anywhere.
        for len in [10, 11, 12] {
            for start in 40..140 {
                let mut row = vec![b'x'; 200];
                row[start..start + len].fill(b'7');
                assert_eq!(
                    row_may_hold_pesel_or_email(&row),
                    len >= 11,
                    "{len} at {start}"
                );
            }
        }
        for at in 0..130 {
            let mut row = vec![b'1'; 130];
            for (i, b) in row.iter_mut().enumerate() {
                if i % 5 == 0 {
                    *b = b'-';
                }
            }
            row[at] = b'@';
            assert!(row_may_hold_pesel_or_email(&row));
        }
        assert!(!row_may_hold_pesel_or_email(b""));
    }

    #[test]
    fn identifier_values() {
        assert_eq!(
            identifier_value("44051401359", false),
            Some("a valid PESEL number")
        );
        assert_eq!(identifier_value("44051401358", false), None);
        // Inside longer values, as the outside testers found them.
        for v in [
            "ID44051401359",
            "rodzina 44051401359",
            "ul. Długa 5 (44051401359)",
            "44051401359/2024",
        ] {
            assert_eq!(
                identifier_value(v, false),
                Some("a valid PESEL number"),
                "{v}"
            );
        }
        // Not split out of longer digit runs; a wrong checksum is not a PESEL; a
        // pseudonym (hex) is not searched.
        assert_eq!(
            identifier_value("PL61109010140000071219812874", false),
            None
        );
        assert_eq!(identifier_value("rodzina 44051401358", false), None);
        assert_eq!(
            identifier_value("a44051401359b0c1d2e3f40516273849", false),
            None
        );
        assert_eq!(
            identifier_value("jan.kowalski@example.org", false),
            Some("an e-mail address")
        );
        assert_eq!(
            identifier_value("+48 600 123 456", true),
            Some("a phone number")
        );
        assert_eq!(
            identifier_value("600-123-456", true),
            Some("a phone number")
        );
        assert_eq!(identifier_value("+48 600 123 456", false), None);
        assert_eq!(identifier_value("2849c81e7afd5946", true), None);
        assert_eq!(identifier_value("2024", true), None);
        assert_eq!(
            identifier_value("Jan Kowalski", true),
            Some("what looks like a person's name")
        );
        assert_eq!(
            identifier_value("Anna Nowak-Wiśniewska", true),
            Some("what looks like a person's name")
        );
        assert_eq!(
            identifier_value("Jan Kowalski", false),
            None,
            "known columns are not searched for names"
        );
        assert_eq!(identifier_value("pomoc doraźna", true), None);
        assert_eq!(identifier_value("OPS", true), None);
    }
}
