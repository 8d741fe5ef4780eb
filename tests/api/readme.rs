//! The README's "Use it in your product" section against `examples/minimal.rs`: the numbers it
//! states and the Rust lines it shows come from the example.

/// The most lines `examples/minimal.rs` may have, as `wc -l` counts them.
const MOST_MINIMAL_LINES: usize = 80;

fn read(relative: &str) -> String {
    let path = test_support::package_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The README's section `## {title}`, up to the next `## ` heading.
fn section<'a>(readme: &'a str, title: &str) -> &'a str {
    let heading = format!("\n## {title}\n");
    let start = readme.find(&heading).expect("the section exists") + heading.len();
    let rest = &readme[start..];
    rest.find("\n## ").map_or(rest, |end| &rest[..end])
}

/// The lines of the section's ```` ```rust ```` blocks, trimmed, blank ones left out.
fn rust_lines(text: &str) -> Vec<&str> {
    let mut in_rust = false;
    let mut lines = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with("```") {
            in_rust = !in_rust && line == "```rust";
        } else if in_rust && !line.is_empty() {
            lines.push(line);
        }
    }
    lines
}

/// The lines a product writes: every line that is neither blank nor a comment.
fn lines_of_code(source: &str) -> usize {
    source
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .count()
}

/// The number written just before `words` in `text`.
fn number_before(text: &str, words: &str) -> usize {
    let end = text
        .find(words)
        .unwrap_or_else(|| panic!("{words:?} is stated"));
    let before = text[..end].trim_end();
    let digits: String = before
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("a number before {words:?}"))
}

#[test]
fn the_minimal_example_has_at_most_80_lines() {
    let lines = read("examples/minimal.rs").lines().count();
    assert!(
        lines <= MOST_MINIMAL_LINES,
        "examples/minimal.rs has {lines} lines"
    );
}

#[test]
fn the_readme_states_the_minimal_example_s_line_counts() {
    let readme = read("README.md");
    let product = section(&readme, "Use it in your product");
    let example = read("examples/minimal.rs");

    assert_eq!(
        number_before(product, "lines of code**"),
        lines_of_code(&example),
        "lines of code: neither blank nor comments"
    );
    assert_eq!(
        number_before(product, "lines as `wc -l` counts them"),
        example.lines().count()
    );
}

#[test]
fn every_rust_line_of_the_readme_s_product_section_is_in_the_minimal_example() {
    let readme = read("README.md");
    let shown = rust_lines(section(&readme, "Use it in your product"));
    let example = read("examples/minimal.rs");
    let example_lines: Vec<&str> = example.lines().map(str::trim).collect();

    assert!(shown.len() >= 10, "the section shows the code: {shown:?}");
    for line in shown {
        assert!(
            example_lines.contains(&line),
            "not in examples/minimal.rs: {line}"
        );
    }
}
