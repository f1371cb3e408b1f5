//! The macro must never panic, whatever tokens it is given: a panic in a proc macro is an
//! unreadable error for the user. This test feeds thousands of random token sequences built
//! from the DSL's own vocabulary (so that they get deep into checking, not just parsing) and
//! a set of truncations of a valid pipeline through `expand`.

use proc_macro2::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};
use quote::quote;

/// A small deterministic PRNG (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const WORDS: &[&str] = &[
    "let",
    "job",
    "name",
    "parallelism",
    "csv",
    "json_lines",
    "from_iter",
    "generate",
    "stdin_lines",
    "map",
    "filter",
    "flat_map",
    "filter_map",
    "inspect",
    "timestamps",
    "watermarks",
    "bounded_out_of_orderness",
    "monotonous",
    "key_by",
    "reduce",
    "window",
    "tumbling",
    "tumbling_processing_time",
    "allowed_lateness",
    "side_output_late_data",
    "drop_late_data",
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "aggregate",
    "sink",
    "stdout",
    "collect",
    "for_each",
    "a",
    "b",
    "late",
    "x",
];

fn random_tokens(rng: &mut Rng, depth: usize) -> TokenStream {
    let len = rng.below(14);
    let mut out = Vec::new();
    for _ in 0..len {
        let tt: TokenTree = match rng.below(10) {
            0..=3 => Ident::new(WORDS[rng.below(WORDS.len())], Span::call_site()).into(),
            4 => Punct::new(
                ['.', ';', ',', ':', '=', '|', '<', '>', '!'][rng.below(9)],
                Spacing::Alone,
            )
            .into(),
            5 => Literal::string("x.csv").into(),
            6 => ["10s", "0s", "5", "1.5s", "3min", "7xx", "250ms"][rng.below(7)]
                .parse::<TokenStream>()
                .unwrap()
                .into_iter()
                .next()
                .unwrap(),
            _ if depth < 3 => {
                let delim = [Delimiter::Parenthesis, Delimiter::Brace, Delimiter::Bracket][rng.below(3)];
                Group::new(delim, random_tokens(rng, depth + 1)).into()
            }
            _ => Punct::new('.', Spacing::Alone).into(),
        };
        out.push(tt);
    }
    out.into_iter().collect()
}

#[test]
fn random_token_soup_never_panics() {
    let mut rng = Rng(0x9e3779b97f4a7c15);
    for _ in 0..20_000 {
        let tokens = random_tokens(&mut rng, 0);
        let _ = fuseflow_lang::expand(tokens, quote!(::fuseflow));
    }
}

#[test]
fn every_truncation_of_a_valid_pipeline_never_panics() {
    let src = r#"
        job { name: "clicks", parallelism: 2 }
        let clicks = csv::<Click>("clicks.csv");
        let counts = clicks.timestamps(|c| c.ts).watermarks(bounded_out_of_orderness(2s))
            .key_by(|c| c.user.clone()).window(tumbling(10s)).allowed_lateness(5s)
            .side_output_late_data(late).count();
        counts.sink(stdout());
        late.sink(json_lines("late.jsonl"));
    "#;
    let tokens: Vec<TokenTree> = src.parse::<TokenStream>().unwrap().into_iter().collect();
    for cut in 0..=tokens.len() {
        for skip in 0..tokens.len() {
            let ts: TokenStream = tokens[..cut]
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, t)| t.clone())
                .collect();
            let _ = fuseflow_lang::expand(ts, quote!(::fuseflow));
        }
    }
}
