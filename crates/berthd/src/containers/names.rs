//! Names for containers created without one, in Docker's shape: `adjective_surname` (a surname of a
//! scientist, engineer or inventor), with one random digit appended on each retry after a clash, and
//! the short id once a few tries all clashed. The word lists are Berth's own.

/// Adjectives (lower case, no underscore).
const ADJECTIVES: &[&str] = &[
    "able", "agile", "airy", "amiable", "ample", "ardent", "astute", "balmy", "bashful", "blithe",
    "bold", "bouncy", "brave", "breezy", "bright", "brisk", "bubbly", "buoyant", "calm", "candid",
    "careful", "charming", "cheery", "chipper", "civil", "clever", "cosmic", "cozy", "crisp",
    "curious", "dapper", "daring", "dazzling", "deft", "devoted", "diligent", "dreamy", "dynamic",
    "eager", "earnest", "easy", "elated", "elegant", "epic", "exact", "fabled", "fair", "fearless",
    "festive", "fiery", "fluent", "fond", "frank", "friendly", "frosty", "gallant", "gentle",
    "gifted", "glad", "gleaming", "golden", "graceful", "grand", "hardy", "hearty", "heroic",
    "honest", "hopeful", "humble", "jaunty", "jolly", "jovial", "joyful", "keen", "kind", "lively",
    "loyal", "lucid", "lucky", "lunar", "mellow", "merry", "mighty", "modest", "nimble", "noble",
    "placid", "plucky", "polite", "proud", "quick", "quiet", "radiant", "rapid", "ready", "robust",
    "rosy", "rugged", "sage", "serene", "sharp", "shiny", "sincere", "snappy", "snug", "solar",
    "spry", "steady", "stellar", "sturdy", "sunny", "swift", "tender", "thrifty", "tidy",
    "tranquil", "trusty", "upbeat", "valiant", "vibrant", "vivid", "warm", "wise", "witty", "zany",
    "zealous", "zesty",
];

/// Surnames of scientists, engineers and inventors (lower case, no underscore).
const SURNAMES: &[&str] = &[
    "agnesi",
    "alhazen",
    "allen",
    "ampere",
    "archimedes",
    "avogadro",
    "babbage",
    "backus",
    "banneker",
    "bardeen",
    "bartik",
    "bell",
    "berners",
    "bohr",
    "boltzmann",
    "boole",
    "bose",
    "brahe",
    "brattain",
    "cannon",
    "cantor",
    "carnot",
    "carson",
    "cauchy",
    "cerf",
    "chandrasekhar",
    "clarke",
    "conway",
    "copernicus",
    "coulomb",
    "cray",
    "crick",
    "curie",
    "darwin",
    "descartes",
    "dijkstra",
    "diophantus",
    "doppler",
    "edison",
    "einstein",
    "elion",
    "engelbart",
    "eratosthenes",
    "euclid",
    "euler",
    "faraday",
    "fermat",
    "fermi",
    "feynman",
    "fibonacci",
    "fourier",
    "franklin",
    "galileo",
    "galois",
    "gauss",
    "germain",
    "goodall",
    "gosling",
    "hamilton",
    "hawking",
    "heisenberg",
    "hertz",
    "hilbert",
    "hodgkin",
    "hooke",
    "hopper",
    "hubble",
    "huygens",
    "hypatia",
    "jackson",
    "jemison",
    "joule",
    "kahn",
    "kelvin",
    "kepler",
    "kilby",
    "knuth",
    "kovalevskaya",
    "lagrange",
    "lamarr",
    "lamport",
    "laplace",
    "lavoisier",
    "leakey",
    "leavitt",
    "leibniz",
    "lehmann",
    "liskov",
    "lovelace",
    "lumiere",
    "maxwell",
    "mayer",
    "mcclintock",
    "meitner",
    "mendel",
    "mendeleev",
    "merian",
    "michelson",
    "minsky",
    "mirzakhani",
    "moore",
    "morse",
    "napier",
    "nash",
    "newton",
    "nightingale",
    "nobel",
    "noether",
    "noyce",
    "ohm",
    "oppenheimer",
    "pascal",
    "pasteur",
    "pauli",
    "pauling",
    "payne",
    "perlman",
    "planck",
    "poincare",
    "ptolemy",
    "raman",
    "ramanujan",
    "ride",
    "riemann",
    "ritchie",
    "rontgen",
    "rutherford",
    "sagan",
    "salk",
    "sanger",
    "shannon",
    "shockley",
    "somerville",
    "stallman",
    "sutherland",
    "swanson",
    "tesla",
    "thompson",
    "torvalds",
    "turing",
    "varahamihira",
    "volta",
    "wald",
    "watt",
    "wiles",
    "wilson",
    "wing",
    "wozniak",
    "wright",
    "yalow",
    "yonath",
    "zuse",
];

/// How many `adjective_surname` names are tried before the short id is used (Docker tries six).
pub const TRIES: usize = 6;

/// A uniformly chosen index below `n` from the kernel's random bytes.
fn random_below(n: usize) -> usize {
    let mut b = [0u8; 8];
    super::model::random_fill(&mut b);
    (u64::from_le_bytes(b) % n as u64) as usize
}

/// The name for try `attempt` (0-based): `adjective_surname`, plus one random digit after the first
/// try; `boring_wozniak` never comes up.
pub fn generate(attempt: usize) -> String {
    let name = format!(
        "{}_{}",
        ADJECTIVES[random_below(ADJECTIVES.len())],
        SURNAMES[random_below(SURNAMES.len())]
    );
    if attempt == 0 {
        name
    } else {
        format!("{name}{}", random_below(10))
    }
}

/// The last resort after [`TRIES`] clashes: the container's short id.
pub fn fallback(id: &str) -> String {
    id[..12.min(id.len())].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_have_docker_shape_and_a_large_pool() {
        assert!(ADJECTIVES.len() * SURNAMES.len() > 15_000);
        for w in ADJECTIVES.iter().chain(SURNAMES) {
            assert!(w.chars().all(|c| c.is_ascii_lowercase()), "{w}");
        }
        let n = generate(0);
        let (a, s) = n.split_once('_').unwrap();
        assert!(ADJECTIVES.contains(&a) && SURNAMES.contains(&s), "{n}");
        let n = generate(1);
        assert!(n.chars().last().unwrap().is_ascii_digit(), "{n}");
        crate::containers::model::validate_name(&n).unwrap();
        assert_eq!(fallback("0123456789abcdef"), "0123456789ab");
    }
}
