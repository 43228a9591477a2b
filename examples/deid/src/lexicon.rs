//! Word lists the detectors use. Matching is exact (case-sensitive) unless a function says
//! otherwise.

use std::collections::HashSet;
use std::sync::OnceLock;

/// `w` in ASCII lower case, in `buf`; an empty string if `w` is not short ASCII (no listed
/// word is).
fn ascii_lower<'b>(w: &str, buf: &'b mut [u8; 24]) -> &'b str {
    if w.len() > buf.len() || !w.is_ascii() {
        return "";
    }
    for (d, s) in buf.iter_mut().zip(w.bytes()) {
        *d = s.to_ascii_lowercase();
    }
    std::str::from_utf8(&buf[..w.len()]).unwrap_or("")
}

/// Titles that introduce a name (`Dr. Jane Doe`, `Patient Alvarez`); the title is kept.
pub(crate) fn is_title(w: &str) -> bool {
    matches!(
        w,
        "Dr" | "Mr"
            | "Mrs"
            | "Ms"
            | "Miss"
            | "Mx"
            | "Prof"
            | "Professor"
            | "Doctor"
            | "Patient"
            | "patient"
            | "Nurse"
    )
}

/// Label words that, followed by `:`, introduce a name (`Attending: Jane Doe`). Compared in
/// lower case; the last word of a multi-word label is what is looked up.
pub(crate) fn is_name_label(w: &str) -> bool {
    let mut buf = [0u8; 24];
    matches!(
        ascii_lower(w, &mut buf),
        "name"
            | "patient"
            | "attending"
            | "physician"
            | "resident"
            | "fellow"
            | "intern"
            | "pcp"
            | "provider"
            | "surgeon"
            | "nurse"
            | "contact"
            | "kin"
            | "nok"
            | "by"
            | "cc"
            | "to"
            | "from"
            | "author"
            | "informant"
            | "guardian"
            | "interpreter"
            | "consultant"
            | "clinician"
            | "therapist"
            | "pharmacist"
            | "witness"
            | "caregiver"
            | "doctor"
            | "gp"
            | "re"
    )
}

/// Verbs that, followed by `by`, introduce a name (`signed by Jane Doe`). Lower case.
pub(crate) fn is_by_verb(w: &str) -> bool {
    let mut buf = [0u8; 24];
    matches!(
        ascii_lower(w, &mut buf),
        "signed"
            | "dictated"
            | "referred"
            | "accompanied"
            | "transcribed"
            | "reviewed"
            | "examined"
            | "authored"
            | "cosigned"
            | "attested"
            | "verified"
    )
}

/// Relatives and carers: `wife Maria`, `son, Michael Lopez`. Lower case.
pub(crate) fn is_relation(w: &str) -> bool {
    matches!(
        w,
        "wife"
            | "husband"
            | "son"
            | "daughter"
            | "mother"
            | "father"
            | "sister"
            | "brother"
            | "partner"
            | "spouse"
            | "friend"
            | "niece"
            | "nephew"
            | "grandson"
            | "granddaughter"
            | "aunt"
            | "uncle"
            | "caregiver"
            | "guardian"
            | "fiancé"
            | "fiancée"
            | "neighbour"
            | "neighbor"
            | "stepson"
            | "stepdaughter"
            | "cousin"
    )
}

/// Professional credentials after a name (`Jane Doe, MD`).
pub(crate) fn is_credential(w: &str) -> bool {
    matches!(
        w,
        "MD" | "DO"
            | "RN"
            | "NP"
            | "PA"
            | "PhD"
            | "MBBS"
            | "MBChB"
            | "FRCP"
            | "FRCS"
            | "FACP"
            | "FACC"
            | "MSN"
            | "APRN"
            | "CNP"
            | "LPN"
            | "DPM"
            | "PharmD"
            | "MPH"
            | "BSN"
            | "LCSW"
            | "DDS"
            | "DNP"
            | "CNM"
            | "MSc"
            | "RD"
            | "DPT"
            | "CRNA"
            | "FNP"
            | "MRCP"
            | "MRCGP"
    )
}

/// Name particles allowed inside a name (`Ludwig van Beethoven`, `Maria de la Cruz`).
pub(crate) fn is_particle(w: &str) -> bool {
    matches!(
        w,
        "van"
            | "von"
            | "de"
            | "der"
            | "den"
            | "da"
            | "del"
            | "della"
            | "di"
            | "la"
            | "le"
            | "bin"
            | "al"
            | "ten"
            | "dos"
    )
}

/// Words that follow an eponym rather than a person (`Parkinson disease`, `Hodgkin
/// lymphoma`): a capitalised word followed by one of these is not a name. Lower case.
pub(crate) fn is_eponym_follower(w: &str) -> bool {
    let mut buf = [0u8; 24];
    matches!(
        ascii_lower(w, &mut buf),
        "disease"
            | "diseases"
            | "syndrome"
            | "lymphoma"
            | "sign"
            | "signs"
            | "test"
            | "score"
            | "scale"
            | "criteria"
            | "catheter"
            | "tube"
            | "procedure"
            | "reflex"
            | "maneuver"
            | "manoeuvre"
            | "classification"
            | "phenomenon"
            | "palsy"
            | "sarcoma"
            | "tumor"
            | "tumour"
            | "disorder"
            | "ulcer"
            | "fracture"
            | "law"
            | "equation"
            | "formula"
            | "method"
            | "stain"
            | "staining"
            | "node"
            | "nodes"
            | "cell"
            | "cells"
            | "body"
            | "bodies"
            | "triad"
            | "operation"
            | "repair"
            | "position"
            | "murmur"
            | "encephalopathy"
            | "thyroiditis"
            | "anomaly"
            | "cyst"
            | "effect"
            | "index"
            | "sarcoidosis"
            | "stage"
            | "staging"
            | "grade"
            | "type"
            | "protocol"
            | "regimen"
            | "class"
            | "lesion"
            | "lesions"
            | "filter"
            | "correction"
            | "coefficient"
            | "distribution"
            | "plot"
            | "curve"
    )
}

/// The words [`is_stopword`] looks up, separated by whitespace.
const STOPWORDS: &str = "\
    The A An And Or Of In On At To For With By From Is Was Has Had Will Denies Reports \
    States Presents Presented Education History Information Name Care Instructions Consent \
    ID Number Record Records Summary Notes Note Plan Assessment Discharge Admission Date \
    Signed Dear Sincerely Regards Thanks Thank Hospital Clinic Center Centre Medical \
    University Department Unit Ward Seen Follow Return Call Contact Phone Tel Fax Email \
    Address MRN DOB Age Sex Male Female He She They His Her Their This That These It We I No \
    Yes Not None Cardiology Oncology Neurology Surgery Medicine Internal General Emergency \
    Department. Reason Referral Diagnosis Diagnoses Medications Allergies Exam Examination \
    Impression Results Labs Vitals Course Hospital. Team Service Office Pharmacy Laboratory \
    Lab Room Bed Street Avenue Road Monday Tuesday Wednesday Thursday Friday Saturday Sunday \
    January February March April May June July August September October November December \
    Patient Patients Doctor Nurse Mr Mrs Ms Dr Prof Hi Hello Re Cc CC Best Kind Yours \
    Attending Physician Resident Signature Electronically Dictated Referred Reviewed Primary \
    Secondary Clinical Trial Study Type Stage Grade Class Group Arm Visit Day Week Month \
    Year Today Tomorrow Yesterday Please Also Then If When After Before During Per Via Upon \
    Given Started Continue Stop Start Take Admitted Discharged Transferred Mother Father \
    Wife Husband Son Daughter Social Family Past Present Chief Complaint Physical Review \
    Systems Pending Normal Abnormal Positive Negative Left Right Bilateral Acute Chronic \
    Severe Mild Moderate New Old Phase Cohort Baseline Total Mean Median Table Figure Fig \
    Ref Vol Suite Apt Ste Box St Mt USA UK Canada Ward. Inc Ltd LLC Health Healthcare \
    Services Foundation Institute School College Association Society Journal Board Committee \
    Insurance Blue Cross Shield Medicare Medicaid NHS Trust Memorial Regional County City \
    State National American European British Saint First Last Arbor";

/// Capitalised words that are not names even where a name could stand (after a title, in
/// a run of capitalised words, after a label).
pub(crate) fn is_stopword(w: &str) -> bool {
    static SET: OnceLock<HashSet<&str>> = OnceLock::new();
    SET.get_or_init(|| STOPWORDS.split_whitespace().collect()).contains(w) || is_credential(w)
}

/// The words [`is_given_name`] looks up, separated by whitespace.
const GIVEN_NAMES: &str = "\
    James John Robert Michael William David Richard Joseph Thomas Charles Christopher Daniel \
    Matthew Anthony Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Edward \
    Ronald Timothy Jason Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin \
    Scott Brandon Benjamin Samuel Gregory Alexander Raymond Patrick Jack Dennis Jerry Tyler \
    Aaron Jose José Henry Adam Douglas Nathan Peter Zachary Kyle Walter Harold Jeremy Ethan \
    Carl Keith Roger Gerald Terry Sean Arthur Noah Lawrence Jesse Joe Bryan Albert Dylan \
    Bruce Gabriel Alan Juan Logan Wayne Ralph Roy Eugene Randy Vincent Russell Louis Philip \
    Bobby Johnny Bradley Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah \
    Karen Nancy Lisa Betty Margaret Sandra Ashley Kimberly Emily Donna Michelle Dorothy \
    Carol Amanda Melissa Deborah Stephanie Rebecca Sharon Laura Cynthia Kathleen Amy Shirley \
    Angela Helen Anna Brenda Pamela Nicole Emma Samantha Katherine Christine Debra Rachel \
    Catherine Carolyn Janet Ruth Maria Heather Diane Julie Joyce Victoria Olivia Kelly \
    Christina Lauren Joan Evelyn Judith Megan Cheryl Andrea Hannah Martha Jacqueline Frances \
    Gloria Ann Teresa Kathryn Sara Janice Jean Alice Doris Abigail Julia Judy Denise \
    Danielle Theresa Sophia Marie Diana Brittany Natalie Isabella Charlotte Alexis Kayla \
    Jane Ahmed Mohammed Muhammad Fatima Aisha Priya Carlos Luis Miguel Ana Sofia Lucia Pedro \
    Javier Elena Ivan Olga Yuki Hiroshi Kenji Giulia Marco Luca Francesco Hans Klaus Pierre \
    François Amélie Chloé Zoë Omar Hassan Leila Nadia Sergei Dmitri Wei Mei Ravi Anil Sunita \
    Siobhan Niamh Eilidh Aoife Rhys Dafydd Ingrid Lars Sven Astrid Kwame Amara Chidi Ngozi \
    Tomás Agnieszka Piotr Katarzyna Eleanor Harriet Oliver Harry Jamie Alistair Fiona Gemma \
    Karim Yusuf Layla Ines Inês João Thiago Camila";

/// Common given names that mark `First Last` as a name without any other cue. Words that
/// are also ordinary words (`May`, `Will`, `Grace`, `Frank`, `Amber`, places like `Jordan`)
/// are left out on purpose.
pub(crate) fn is_given_name(w: &str) -> bool {
    static SET: OnceLock<HashSet<&str>> = OnceLock::new();
    SET.get_or_init(|| GIVEN_NAMES.split_whitespace().collect()).contains(w)
}

/// Month names and their abbreviations, as written in dates; `None` if `w` is not one.
pub(crate) fn month(w: &str) -> Option<u32> {
    Some(match w {
        "January" | "Jan" => 1,
        "February" | "Feb" => 2,
        "March" | "Mar" => 3,
        "April" | "Apr" => 4,
        "May" => 5,
        "June" | "Jun" => 6,
        "July" | "Jul" => 7,
        "August" | "Aug" => 8,
        "September" | "Sep" | "Sept" => 9,
        "October" | "Oct" => 10,
        "November" | "Nov" => 11,
        "December" | "Dec" => 12,
        _ => return None,
    })
}

/// Street suffixes of an address (`Street`, `St`, `Ave`, ...).
pub(crate) fn is_street_suffix(w: &str) -> bool {
    matches!(
        w,
        "Street"
            | "St"
            | "Avenue"
            | "Ave"
            | "Av"
            | "Road"
            | "Rd"
            | "Boulevard"
            | "Blvd"
            | "Lane"
            | "Ln"
            | "Drive"
            | "Dr"
            | "Court"
            | "Ct"
            | "Place"
            | "Pl"
            | "Way"
            | "Terrace"
            | "Ter"
            | "Circle"
            | "Cir"
            | "Highway"
            | "Hwy"
            | "Parkway"
            | "Pkwy"
            | "Square"
            | "Sq"
            | "Close"
            | "Crescent"
            | "Cres"
            | "Row"
            | "Trail"
            | "Trl"
            | "Pike"
            | "Alley"
            | "Gardens"
            | "Grove"
            | "Mews"
            | "Walk"
            | "Hill"
            | "Park"
            | "Plaza"
            | "Loop"
            | "Run"
            | "Path"
            | "Crossing"
            | "Expressway"
            | "Turnpike"
    )
}

/// Compass directions after a street (`NW`, `South`).
pub(crate) fn is_direction(w: &str) -> bool {
    matches!(
        w,
        "N" | "S"
            | "E"
            | "W"
            | "NE"
            | "NW"
            | "SE"
            | "SW"
            | "North"
            | "South"
            | "East"
            | "West"
            | "Northeast"
            | "Northwest"
            | "Southeast"
            | "Southwest"
    )
}

/// Unit designators inside an address (`Apt 4B`, `Suite 300`).
pub(crate) fn is_unit_word(w: &str) -> bool {
    matches!(
        w,
        "Apt"
            | "Apartment"
            | "Unit"
            | "Suite"
            | "Ste"
            | "Flat"
            | "Room"
            | "Rm"
            | "Floor"
            | "Fl"
            | "Bldg"
            | "Building"
    )
}

/// US state and territory codes.
pub(crate) fn is_state_code(w: &str) -> bool {
    matches!(
        w,
        "AL" | "AK"
            | "AZ"
            | "AR"
            | "CA"
            | "CO"
            | "CT"
            | "DE"
            | "FL"
            | "GA"
            | "HI"
            | "ID"
            | "IL"
            | "IN"
            | "IA"
            | "KS"
            | "KY"
            | "LA"
            | "ME"
            | "MD"
            | "MA"
            | "MI"
            | "MN"
            | "MS"
            | "MO"
            | "MT"
            | "NE"
            | "NV"
            | "NH"
            | "NJ"
            | "NM"
            | "NY"
            | "NC"
            | "ND"
            | "OH"
            | "OK"
            | "OR"
            | "PA"
            | "RI"
            | "SC"
            | "SD"
            | "TN"
            | "TX"
            | "UT"
            | "VT"
            | "VA"
            | "WA"
            | "WV"
            | "WI"
            | "WY"
            | "DC"
            | "PR"
    )
}

/// Words that, within the three words before a number, mark it as a phone number. Lower case.
pub(crate) fn is_phone_cue(w: &str) -> bool {
    let mut buf = [0u8; 24];
    matches!(
        ascii_lower(w, &mut buf),
        "phone"
            | "tel"
            | "telephone"
            | "call"
            | "fax"
            | "mobile"
            | "cell"
            | "pager"
            | "bleep"
            | "ph"
            | "contact"
            | "reached"
            | "mob"
            | "hotline"
            | "whatsapp"
            | "landline"
            | "telefon"
    )
}

/// Record-number cues: the word sequences (lower case) that introduce a record number, and
/// whether the number needs an explicit `#`, `:`, `no` or `number` after the cue.
pub(crate) const RECORD_CUES: &[(&[&str], bool)] = &[
    (&["mrn"], false),
    (&["mr"], true),
    (&["medical", "record", "number"], false),
    (&["medical", "record", "no"], false),
    (&["medical", "record"], true),
    (&["record", "number"], false),
    (&["record", "no"], false),
    (&["record"], true),
    (&["hospital", "number"], false),
    (&["hospital", "no"], false),
    (&["account", "number"], false),
    (&["account", "no"], false),
    (&["account"], true),
    (&["acct"], false),
    (&["ssn"], false),
    (&["social", "security", "number"], false),
    (&["social", "security", "no"], false),
    (&["social", "security"], false),
    (&["nhs", "number"], false),
    (&["nhs", "no"], false),
    (&["nhs"], true),
    (&["patient", "id"], false),
    (&["member", "id"], false),
    (&["subscriber", "id"], false),
    (&["insurance", "id"], false),
    (&["policy", "number"], false),
    (&["policy", "no"], false),
    (&["encounter", "number"], false),
    (&["encounter", "no"], false),
    (&["encounter"], true),
    (&["chart", "number"], false),
    (&["chart", "no"], false),
    (&["chart"], true),
    (&["visit", "number"], false),
    (&["health", "card", "number"], false),
    (&["medicare", "number"], false),
    (&["medicaid", "id"], false),
    (&["beneficiary", "id"], false),
    (&["case", "number"], false),
    (&["specimen", "number"], false),
    (&["accession", "number"], false),
    (&["accession", "no"], false),
    (&["accession"], true),
];

/// Words before a given name that make it part of a place (`San Luis Obispo`, `St. Louis
/// Park`).
pub(crate) fn is_place_prefix(w: &str) -> bool {
    matches!(
        w,
        "San"
            | "Santa"
            | "Santo"
            | "São"
            | "St"
            | "Saint"
            | "Ste"
            | "Fort"
            | "Mount"
            | "Mt"
            | "Port"
            | "Lake"
    )
}

/// Words after a name that make it an institution's (`Henry Ford Hospital`, `John Muir
/// Medical Center`).
pub(crate) fn is_institution_word(w: &str) -> bool {
    matches!(
        w,
        "Hospital"
            | "Hospitals"
            | "Medical"
            | "Center"
            | "Centre"
            | "Health"
            | "Institute"
            | "Cancer"
            | "University"
            | "Clinic"
            | "Foundation"
            | "Memorial"
            | "College"
            | "School"
            | "Regional"
            | "Community"
            | "Healthcare"
            | "Research"
            | "Laboratory"
            | "Library"
            | "Hall"
            | "Building"
            | "Children"
            | "Pavilion"
            | "Consultants"
            | "Sons"
            | "Oncology"
            | "Hematology"
            | "Associates"
            | "Group"
            | "Partners"
            | "Network"
            | "System"
            | "Systems"
            | "Services"
            | "Campus"
    )
}
