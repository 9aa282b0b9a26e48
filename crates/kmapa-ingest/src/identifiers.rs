//! Direct identifiers that must never enter kmapa: names, PESEL numbers, phone
//! numbers, e-mail addresses, document numbers. Found by column name and by the shape
//! of values; a file that carries any is refused as a whole.

use kmapa_model::text::fold;

/// Words that, as a word of a column header, mark a direct identifier.
const IDENTIFIER_WORDS: &[(&str, &str)] = &[
    ("pesel", "a PESEL number"),
    ("imie", "a first name"),
    ("imiona", "first names"),
    ("nazwisko", "a surname"),
    ("name", "a name"),
    ("firstname", "a first name"),
    ("surname", "a surname"),
    ("lastname", "a surname"),
    ("telefon", "a phone number"),
    ("tel", "a phone number"),
    ("phone", "a phone number"),
    ("mobile", "a phone number"),
    ("komorka", "a phone number"),
    ("email", "an e-mail address"),
    ("mail", "an e-mail address"),
    ("dowod", "an identity card number"),
    ("dowodu", "an identity card number"),
    ("paszport", "a passport number"),
    ("passport", "a passport number"),
    ("dokument", "a document number"),
    ("dokumentu", "a document number"),
    ("document", "a document number"),
    ("nip", "a tax number"),
];

/// If the header names a direct identifier, what it is.
pub fn identifier_column(header: &str) -> Option<&'static str> {
    let f = fold(header).replace(['.', '/', '(', ')'], " ");
    let words: Vec<&str> = f.split(' ').collect();
    let joined = words.concat();
    IDENTIFIER_WORDS
        .iter()
        .find(|(w, _)| words.contains(w) || joined == *w)
        .map(|(_, what)| *what)
}

/// If a value looks like a direct identifier, what it looks like.
/// `free_text` widens the check to phone numbers (for columns kmapa does not know).
pub fn identifier_value(value: &str, free_text: bool) -> Option<&'static str> {
    let v = value.trim();
    if v.len() == 11 && crate::pesel::is_valid(v) {
        return Some("a valid PESEL number");
    }
    if let Some(at) = v.find('@')
        && at > 0
        && v[at + 1..].contains('.')
        && !v.contains(' ')
    {
        return Some("an e-mail address");
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn identifier_values() {
        assert_eq!(
            identifier_value("44051401359", false),
            Some("a valid PESEL number")
        );
        assert_eq!(identifier_value("44051401358", false), None);
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
    }
}
