//! PESEL, the Polish national identification number: 11 digits, the first six the
//! date of birth (the month offset by the century), the tenth odd for men, the last a
//! checksum with weights 1, 3, 7, 9, 1, 3, 7, 9, 1, 3.

use kmapa_model::Sex;

/// True when `s` is 11 digits with a correct checksum and a real date of birth.
pub fn is_valid(s: &str) -> bool {
    parse(s).is_some()
}

/// Birth year and sex of a valid PESEL.
pub fn parse(s: &str) -> Option<(i32, Sex)> {
    let b = s.as_bytes();
    if b.len() != 11 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let d: Vec<u32> = b.iter().map(|c| u32::from(c - b'0')).collect();
    const W: [u32; 10] = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3];
    let sum: u32 = d.iter().zip(W).map(|(x, w)| x * w).sum();
    if (10 - sum % 10) % 10 != d[10] {
        return None;
    }
    let yy = (d[0] * 10 + d[1]) as i32;
    let mm = d[2] * 10 + d[3];
    let dd = d[4] * 10 + d[5];
    let (century, month) = match mm {
        81..=92 => (1800, mm - 80),
        1..=12 => (1900, mm),
        21..=32 => (2000, mm - 20),
        41..=52 => (2100, mm - 40),
        61..=72 => (2200, mm - 60),
        _ => return None,
    };
    let year = century + yy;
    chrono::NaiveDate::from_ymd_opt(year, month, dd)?;
    let sex = if d[9] % 2 == 1 {
        Sex::Male
    } else {
        Sex::Female
    };
    Some((year, sex))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_numbers() {
        // Published example numbers (the ministry's documentation and common test data).
        assert_eq!(parse("44051401359"), Some((1944, Sex::Male)));
        assert_eq!(parse("02070803628"), Some((1902, Sex::Female)));
        assert_eq!(parse("02270803624"), Some((2002, Sex::Female)));
        assert!(!is_valid("44051401358"), "wrong checksum");
        assert!(!is_valid("4405140135"), "too short");
        assert!(!is_valid("44053201351"), "no 32 May");
        assert!(!is_valid("4405140135a"));
    }

    #[test]
    fn checksum_catches_every_single_digit_error() {
        let good = "44051401359";
        for i in 0..11 {
            for d in b'0'..=b'9' {
                let mut v = good.as_bytes().to_vec();
                if v[i] == d {
                    continue;
                }
                v[i] = d;
                let s = String::from_utf8(v).unwrap();
                // Weight 1,3,7,9 are coprime to 10, so any single change breaks the sum.
                assert!(!is_valid(&s), "{s}");
            }
        }
    }
}
