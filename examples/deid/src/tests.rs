//! Unit tests of the masking rules, one class at a time, and of the confounders they leave.

use super::*;

fn m(s: &str) -> String {
    mask(s, &DeidConfig::default())
}

#[test]
fn masks_each_kind_of_identifier() {
    assert_eq!(
        m("Contact Dr. Smith at jane.smith@example.org or +1-555-123-4567."),
        "Contact Dr. [NAME] at [EMAIL] or [PHONE]."
    );
    assert_eq!(
        m("Seen on 2024-03-15, MRN 0042317, again 03/04/2024."),
        "Seen on [DATE], [MRN], again [DATE]."
    );
    assert_eq!(m("Patient Alvarez, MRN:99812"), "Patient [NAME], [MRN]");
    assert_eq!(
        m("Metformin reduces HbA1c by 1.2% in 300 patients."),
        "Metformin reduces HbA1c by 1.2% in 300 patients."
    );
}

#[test]
fn the_config_turns_kinds_off() {
    let cfg = DeidConfig { emails: false, ..DeidConfig::default() };
    assert_eq!(mask("Write to a@b.org on 2024-01-01", &cfg), "Write to a@b.org on [DATE]");
    // A date left unmasked is not taken for a phone number.
    let cfg = DeidConfig { dates: false, ..DeidConfig::default() };
    assert_eq!(mask("Seen 2024-01-01, call 555-123-4567", &cfg), "Seen 2024-01-01, call [PHONE]");
    let cfg = DeidConfig { addresses: false, ..DeidConfig::default() };
    assert_eq!(mask("Lives at 12 Oak Street.", &cfg), "Lives at 12 Oak Street.");
    let none = DeidConfig {
        emails: false,
        phones: false,
        dates: false,
        record_numbers: false,
        names: false,
        addresses: false,
    };
    let s = "Dr. Jane Doe, MRN 4471234, 12 Oak Street, 555-123-4567, 2024-03-15, a@b.org";
    assert_eq!(mask(s, &none), s);
}

#[test]
fn an_old_config_without_addresses_still_parses() {
    let cfg: DeidConfig = serde_json::from_str(r#"{"dates": false}"#).unwrap();
    assert!(!cfg.dates && cfg.addresses && cfg.names);
    assert!(serde_json::from_str::<DeidConfig>(r#"{"adresses": false}"#).is_err());
}

#[test]
fn names_are_masked_whole_with_or_without_a_title() {
    assert_eq!(m("Dr. Jane Q. Doe reviewed."), "Dr. [NAME] reviewed.");
    assert_eq!(m("Mr. John Smith, 54, was admitted."), "Mr. [NAME], 54, was admitted.");
    assert_eq!(m("Patient John Doe denies pain."), "Patient [NAME] denies pain.");
    assert_eq!(m("Signed: Jane Doe, MD"), "Signed: [NAME], MD");
    assert_eq!(m("Electronically signed by Tama Ngata RN"), "Electronically signed by [NAME] RN");
    assert_eq!(m("Name: Okafor, Chidi"), "Name: [NAME]");
    assert_eq!(m("Accompanied by his wife, Maria Lopez."), "Accompanied by his wife, [NAME].");
    assert_eq!(m("Mary Johnson was seen."), "[NAME] was seen.");
    assert_eq!(m("Dr. O'Brien-Walsh and Prof. Ludwig van Beethoven"), "Dr. [NAME] and Prof. [NAME]");
    // The words of a name found are masked elsewhere in the text.
    assert_eq!(
        m("Mr. Tama Ngata was seen. Ngata is well. Tama Ngata left."),
        "Mr. [NAME] was seen. [NAME] is well. [NAME] left."
    );
    // Possessive kept.
    assert_eq!(m("Dr. Smith's clinic"), "Dr. [NAME]'s clinic");
}

#[test]
fn eponyms_and_capitalised_terms_are_not_names() {
    for s in [
        "History of Parkinson disease and Hodgkin lymphoma.",
        "Patient Education: take Metformin 500 mg twice daily.",
        "Mr. Parkinson disease was ruled out", // an eponym after a title is still an eponym
        "Babinski sign negative; Glasgow Coma Scale 15.",
        "Crohn's disease in remission; Graves disease treated.",
        "Patient Denies chest pain.",
    ] {
        assert_eq!(m(s), s);
    }
}

#[test]
fn record_numbers() {
    assert_eq!(m("MRN 4471234"), "[MRN]");
    assert_eq!(m("Account No. AC-22871-09, SSN 123-45-6789."), "[MRN], [MRN].");
    assert_eq!(m("medical record no. 00123456"), "[MRN]");
    assert_eq!(m("SSN-like 078-05-1120 here"), "SSN-like [MRN] here");
    // Trial ids and small counts are not record numbers.
    assert_eq!(m("Record NCT01234567; account for 12 cases"), "Record NCT01234567; account for 12 cases");
}

#[test]
fn addresses() {
    assert_eq!(m("Lives at 221B Baker Street."), "Lives at [ADDRESS].");
    assert_eq!(
        m("Home: 4500 North Lake Shore Dr., Apt 12B, Chicago, IL 60640-1234 (own house)"),
        "Home: [ADDRESS] (own house)"
    );
    assert_eq!(m("PO Box 778, Boston, MA 02115"), "[ADDRESS]");
    assert_eq!(m("moved to Portland, OR 97201 in May"), "moved to [ADDRESS] in May");
    // Not addresses.
    for s in ["Give 10 Units Regular Insulin.", "Transferred to Unit 4B, bed 12.", "Baltimore, MD"] {
        assert_eq!(m(s), s);
    }
}

#[test]
fn phones() {
    for (s, want) in [
        ("(555) 123-4567", "[PHONE]"),
        ("555.123.4567", "[PHONE]"),
        ("1-800-555-0199 ext. 204", "[PHONE]"),
        ("+44 20 7946 0958", "[PHONE]"),
        ("Tel: 020 7946 0958", "Tel: [PHONE]"),
        ("pager 4471", "pager 4471"),
        ("fax 5550143999", "fax [PHONE]"),
        ("call 555-0143.", "call [PHONE]."),
    ] {
        assert_eq!(m(s), want, "{s}");
    }
    for s in
        ["BP 128/76, HR 88, SpO2 97%", "doi:10.1056/NEJMoa2034577", "Hb 10.2 11.5 12.1 12.9", "p = 0.0001234"]
    {
        assert_eq!(m(s), s);
    }
}

#[test]
fn dates() {
    for (s, want) in [
        ("on 15 March 2024.", "on [DATE]."),
        ("on 3rd of March, 2024", "on [DATE]"),
        ("15-Mar-2024", "[DATE]"),
        ("March 15, 2024", "[DATE]"),
        ("seen Mar. 3rd", "seen [DATE]"),
        ("since March 2024", "since [DATE]"),
        ("DOB 3/15/52", "DOB [DATE]"),
        ("15.03.2024", "[DATE]"),
        ("until 03/2025", "until [DATE]"),
    ] {
        assert_eq!(m(s), want, "{s}");
    }
    for s in [
        "published in 2019 (Smith et al., 2019)",
        "N Engl J Med. 2021 Mar 4;384(9):795-807.",
        "May be given twice.",
        "a 30–40% rise, 2/3 of cases, 1/2 tab",
        "13/32 patients",
    ] {
        assert_eq!(m(s), s);
    }
}

#[test]
fn non_ascii_text_never_panics_and_is_kept() {
    for s in ["30–40%", "37°C", "≥4-Fold", "19ème", "Zoë 漢字 😀 e\u{301}", "–", "Dr. É", "MRN 漢", "@😀.de"]
    {
        assert_eq!(m(s), s);
    }
    assert_eq!(m("Dr. José Müller-Lüdenscheidt, 37°C"), "Dr. [NAME], 37°C");
}

#[test]
fn initials_coordinated_names_and_surnames_seen_before() {
    assert_eq!(
        m("Corresponding Author: J.N. Mark Glover or Alvaro N.A. Monteiro, Department of Biochemistry"),
        "Corresponding Author: [NAME] or [NAME], Department of Biochemistry"
    );
    assert_eq!(
        m("Seen with her mother, Deborah Kaye. Naomi Kaye reports"),
        "Seen with her mother, [NAME]. [NAME] reports"
    );
    assert_eq!(m("Pt: DOE, Jane; Wife (Lucia) visiting"), "Pt: DOE, Jane; Wife ([NAME]) visiting");
    assert_eq!(m("Patient: DOE, Jane"), "Patient: [NAME]");
}

#[test]
fn places_and_institutions_named_after_people_are_not_names() {
    for s in [
        "San Luis Obispo, St. Louis Park",
        "Henry Ford Saint John Hospital - Academic",
        "Nancy Ortenzio Cancer Pavilion",
        "Medical Oncology Hematology Consultants PA",
        "First Patient First Visit until Last Patient Last Visit",
        "Crit. Rev. Anal. Chem. and Nat Rev Cancer",
        "Stochastic Neighbour Embedding",
    ] {
        assert_eq!(m(s), s);
    }
    assert_eq!(m("Dr. Ann Lee, Henry Ford Hospital"), "Dr. [NAME], Henry Ford Hospital");
}

#[test]
fn uk_and_unit_first_addresses_and_nhs_numbers() {
    assert_eq!(m("Practice, 14 Station Road, Didsbury, Manchester M20 2RE"), "Practice, [ADDRESS]");
    assert_eq!(m("lives at Flat 3, 27 Elm Grove, Leeds LS6 2AB."), "lives at [ADDRESS].");
    assert_eq!(m("Falmer, Brighton BN1 9QG, UK"), "[ADDRESS], UK");
    assert_eq!(m("NHS number 943 476 5919"), "[MRN]");
    assert_eq!(m("Tel: 0161 496 0732"), "Tel: [PHONE]");
}
